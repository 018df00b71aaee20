package shop

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// The shop's global tables. Every table has one String partition key, id.
const (
	// products: id, name, description, icon, price_cents, stock,
	// allocation (a map region → units), position.
	tableProducts = "products"
	// carts: id (the session cookie), rev, and one "qty:<product id>"
	// number per line. Lines and rev change with ADD, so two tabs adding to
	// the same cart never lose an addition.
	tableCarts = "carts"
	// inventory: id "<product id>#<region>", product, region, allocated,
	// stock. Only the region in the id ever writes the item.
	tableInventory = "inventory"
	// orders: id, session, region, instance, created_at, status, lines,
	// total_cents.
	tableOrders = "orders"
)

func tableNames() []string {
	return []string{tableProducts, tableCarts, tableInventory, tableOrders}
}

// maxQuantity bounds one cart line.
const maxQuantity = 99

const qtyPrefix = "qty:"

var (
	errNotFound    = errors.New("not found")
	errEmptyCart   = errors.New("your cart is empty")
	errCartChanged = errors.New("your cart changed during checkout; review it and check out again")
	errTooMany     = fmt.Errorf("a cart holds at most %d of one product", maxQuantity)
)

// OutOfStockError is a checkout refused because this region's allocation
// of a product has fewer units left than the cart asks for.
type OutOfStockError struct {
	ProductID string
	Name      string
	Region    string
	Requested int64
	Available int64
}

func (e *OutOfStockError) Error() string {
	return fmt.Sprintf("%s: %d requested, %d left in %s", e.Name, e.Requested, e.Available, e.Region)
}

// CartLine is one product in a cart or an order.
type CartLine struct {
	ProductID     string `json:"product_id"`
	Name          string `json:"name"`
	Icon          string `json:"icon"`
	Quantity      int64  `json:"quantity"`
	PriceCents    int64  `json:"price_cents"`
	SubtotalCents int64  `json:"subtotal_cents"`
}

// Cart is a session's cart, priced at the catalog's current prices.
type Cart struct {
	Lines      []CartLine `json:"lines"`
	TotalCents int64      `json:"total_cents"`
	// rev counts changes to the cart; checkout deletes the cart only if
	// rev is still the one it priced.
	rev int64
}

// Count is the number of units in the cart.
func (c Cart) Count() int64 {
	var n int64
	for _, l := range c.Lines {
		n += l.Quantity
	}
	return n
}

// Order is a completed checkout.
type Order struct {
	ID         string     `json:"id"`
	Region     string     `json:"region"`
	Instance   string     `json:"instance"`
	CreatedAt  time.Time  `json:"created_at"`
	Status     string     `json:"status"`
	Lines      []CartLine `json:"lines"`
	TotalCents int64      `json:"total_cents"`
}

// Stock is what a product has left.
type Stock struct {
	// Here is what this region may still sell.
	Here int64 `json:"here"`
	// Total is the sum over every region's allocation as this region sees
	// it now (other regions' sales arrive by replication).
	Total int64 `json:"total"`
}

// db is the shop's data access over one region's DynamoDB endpoint.
type db struct {
	c      *dynamodb.Client
	region string
}

func newID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	return hex.EncodeToString(b)
}

func stockKey(productID, region string) string { return productID + "#" + region }

func key(id string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{"id": str(id)}
}

func str(v string) types.AttributeValue { return &types.AttributeValueMemberS{Value: v} }
func num(v int64) types.AttributeValue {
	return &types.AttributeValueMemberN{Value: strconv.FormatInt(v, 10)}
}

func getS(item map[string]types.AttributeValue, name string) string {
	if v, ok := item[name].(*types.AttributeValueMemberS); ok {
		return v.Value
	}
	return ""
}

func getN(item map[string]types.AttributeValue, name string) int64 {
	return parseN(item[name])
}

func parseN(av types.AttributeValue) int64 {
	v, ok := av.(*types.AttributeValueMemberN)
	if !ok {
		return 0
	}
	n, err := strconv.ParseInt(v.Value, 10, 64)
	if err != nil {
		// Counters are whole numbers; a fraction would be someone else's
		// write. Read its integer part rather than failing the page.
		f, _ := strconv.ParseFloat(v.Value, 64)
		return int64(f)
	}
	return n
}

// ---- tables ----

// ensureTables creates any missing table and waits until all are ACTIVE.
// A concurrent creation by another instance (ResourceInUseException) is
// success.
func (d *db) ensureTables(ctx context.Context) error {
	for _, name := range tableNames() {
		_, err := d.c.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(name)})
		var nf *types.ResourceNotFoundException
		if err == nil {
			continue
		}
		if !errors.As(err, &nf) {
			return fmt.Errorf("describing table %s: %w", name, err)
		}
		_, err = d.c.CreateTable(ctx, &dynamodb.CreateTableInput{
			TableName:            aws.String(name),
			AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String("id"), AttributeType: types.ScalarAttributeTypeS}},
			KeySchema:            []types.KeySchemaElement{{AttributeName: aws.String("id"), KeyType: types.KeyTypeHash}},
			BillingMode:          types.BillingModePayPerRequest,
		})
		var inUse *types.ResourceInUseException
		if err != nil && !errors.As(err, &inUse) {
			return fmt.Errorf("creating table %s: %w", name, err)
		}
	}
	for _, name := range tableNames() {
		w := dynamodb.NewTableExistsWaiter(d.c, func(o *dynamodb.TableExistsWaiterOptions) {
			o.MinDelay, o.MaxDelay = 50*time.Millisecond, time.Second
		})
		if err := w.Wait(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(name)}, time.Minute); err != nil {
			return fmt.Errorf("waiting for table %s: %w", name, err)
		}
	}
	return nil
}

// tableIDs returns every table's id and the regions the tables replicate
// to (sorted).
func (d *db) tableIDs(ctx context.Context) (map[string]string, []string, error) {
	ids := map[string]string{}
	var regions []string
	for _, name := range tableNames() {
		out, err := d.c.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(name)})
		if err != nil {
			return nil, nil, fmt.Errorf("describing table %s: %w", name, err)
		}
		ids[name] = aws.ToString(out.Table.TableId)
		if name == tableProducts {
			for _, r := range out.Table.Replicas {
				regions = append(regions, aws.ToString(r.RegionName))
			}
		}
	}
	if len(regions) == 0 {
		// A single-region table (for example in AWS without replicas).
		regions = []string{d.region}
	}
	slices.Sort(regions)
	return ids, regions, nil
}

// ping is the health probe: can this instance reach its region's API and
// does the products table exist there.
func (d *db) ping(ctx context.Context) error {
	if _, err := d.c.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(tableProducts)}); err != nil {
		return fmt.Errorf("describing table %s: %w", tableProducts, err)
	}
	return nil
}

// ---- seeding ----

// seed writes the catalog and this region's stock allocations, each only
// if absent, so any number of instances may run it at once.
//
// Products may be written from any region: every instance computes the
// same item (fixed id, allocation split by sorted region name), so
// concurrent puts in two regions converge to the same value. An inventory
// item is written only by its own region, where the condition
// attribute_not_exists(id) is checked against every write it ever had.
func (d *db) seed(ctx context.Context, catalog []Product, regions []string) error {
	for i, p := range catalog {
		p.Allocation = allocate(p.Stock, regions)
		item := productItem(p, i)
		_, err := d.c.PutItem(ctx, &dynamodb.PutItemInput{
			TableName:           aws.String(tableProducts),
			Item:                item,
			ConditionExpression: aws.String("attribute_not_exists(id)"),
		})
		if err != nil && !isConditionFailed(err) {
			return fmt.Errorf("seeding product %s: %w", p.ID, err)
		}
	}
	for _, p := range catalog {
		stored, err := d.product(ctx, p.ID)
		if err != nil {
			return fmt.Errorf("seeding stock of %s: %w", p.ID, err)
		}
		// The stored product decides the allocation: a region added after
		// the product was seeded has none until an operator moves some.
		units := stored.Allocation[d.region]
		_, err = d.c.PutItem(ctx, &dynamodb.PutItemInput{
			TableName: aws.String(tableInventory),
			Item: map[string]types.AttributeValue{
				"id":        str(stockKey(p.ID, d.region)),
				"product":   str(p.ID),
				"region":    str(d.region),
				"allocated": num(units),
				"stock":     num(units),
			},
			ConditionExpression: aws.String("attribute_not_exists(id)"),
		})
		if err != nil && !isConditionFailed(err) {
			return fmt.Errorf("seeding stock of %s in %s: %w", p.ID, d.region, err)
		}
	}
	return nil
}

func isConditionFailed(err error) bool {
	var cf *types.ConditionalCheckFailedException
	return errors.As(err, &cf)
}

// ---- products ----

func productItem(p Product, position int) map[string]types.AttributeValue {
	alloc := map[string]types.AttributeValue{}
	for r, n := range p.Allocation {
		alloc[r] = num(n)
	}
	return map[string]types.AttributeValue{
		"id":          str(p.ID),
		"name":        str(p.Name),
		"description": str(p.Description),
		"icon":        str(p.Icon),
		"price_cents": num(p.PriceCents),
		"stock":       num(p.Stock),
		"allocation":  &types.AttributeValueMemberM{Value: alloc},
		"position":    num(int64(position)),
	}
}

func productFrom(item map[string]types.AttributeValue) Product {
	p := Product{
		ID:          getS(item, "id"),
		Name:        getS(item, "name"),
		Description: getS(item, "description"),
		Icon:        getS(item, "icon"),
		PriceCents:  getN(item, "price_cents"),
		Stock:       getN(item, "stock"),
		Allocation:  map[string]int64{},
	}
	if m, ok := item["allocation"].(*types.AttributeValueMemberM); ok {
		for r, v := range m.Value {
			p.Allocation[r] = parseN(v)
		}
	}
	return p
}

func (d *db) product(ctx context.Context, id string) (Product, error) {
	out, err := d.c.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(tableProducts), Key: key(id), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return Product{}, fmt.Errorf("reading product %s: %w", id, err)
	}
	if out.Item == nil {
		return Product{}, fmt.Errorf("product %s: %w", id, errNotFound)
	}
	return productFrom(out.Item), nil
}

// products lists the catalog in its seeded order.
func (d *db) products(ctx context.Context) ([]Product, error) {
	type entry struct {
		p   Product
		pos int64
	}
	var all []entry
	pages := dynamodb.NewScanPaginator(d.c, &dynamodb.ScanInput{TableName: aws.String(tableProducts)})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("listing products: %w", err)
		}
		for _, item := range page.Items {
			all = append(all, entry{productFrom(item), getN(item, "position")})
		}
	}
	slices.SortFunc(all, func(a, b entry) int {
		return cmp.Or(cmp.Compare(a.pos, b.pos), strings.Compare(a.p.ID, b.p.ID))
	})
	out := make([]Product, len(all))
	for i, e := range all {
		out[i] = e.p
	}
	return out, nil
}

// ---- inventory ----

// stocks reads the stock of the given products: what this region has left
// and the total over every region's allocation.
func (d *db) stocks(ctx context.Context, products []Product) (map[string]Stock, error) {
	var keys []string
	for _, p := range products {
		keys = append(keys, stockKey(p.ID, d.region))
		for r := range p.Allocation {
			if r != d.region {
				keys = append(keys, stockKey(p.ID, r))
			}
		}
	}
	left, err := d.inventory(ctx, keys)
	if err != nil {
		return nil, err
	}
	out := map[string]Stock{}
	for _, p := range products {
		s := Stock{Here: left[stockKey(p.ID, d.region)]}
		for r := range p.Allocation {
			s.Total += left[stockKey(p.ID, r)]
		}
		if _, ok := p.Allocation[d.region]; !ok {
			s.Total += s.Here
		}
		out[p.ID] = s
	}
	return out, nil
}

// inventory reads the stock counters with the given ids (absent items
// count as 0).
func (d *db) inventory(ctx context.Context, ids []string) (map[string]int64, error) {
	out := map[string]int64{}
	for chunk := range slices.Chunk(ids, 100) {
		var keys []map[string]types.AttributeValue
		for _, id := range chunk {
			keys = append(keys, key(id))
		}
		req := map[string]types.KeysAndAttributes{tableInventory: {Keys: keys, ConsistentRead: aws.Bool(true)}}
		for len(req) > 0 {
			res, err := d.c.BatchGetItem(ctx, &dynamodb.BatchGetItemInput{RequestItems: req})
			if err != nil {
				return nil, fmt.Errorf("reading stock: %w", err)
			}
			for _, item := range res.Responses[tableInventory] {
				out[getS(item, "id")] = getN(item, "stock")
			}
			req = res.UnprocessedKeys
		}
	}
	return out, nil
}

// ---- carts ----

// addToCart adds quantity units of a product to a session's cart. Both the
// line and the cart's revision change by ADD, which Meridian replicates as
// counters: concurrent additions all count.
func (d *db) addToCart(ctx context.Context, session, productID string, quantity int64) error {
	if quantity < 1 || quantity > maxQuantity {
		return errTooMany
	}
	if _, err := d.product(ctx, productID); err != nil {
		return err
	}
	_, err := d.c.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(tableCarts),
		Key:                       key(session),
		UpdateExpression:          aws.String("ADD #q :n, rev :one"),
		ConditionExpression:       aws.String("attribute_not_exists(#q) OR #q <= :room"),
		ExpressionAttributeNames:  map[string]string{"#q": qtyPrefix + productID},
		ExpressionAttributeValues: map[string]types.AttributeValue{":n": num(quantity), ":one": num(1), ":room": num(maxQuantity - quantity)},
	})
	if isConditionFailed(err) {
		return errTooMany
	}
	if err != nil {
		return fmt.Errorf("adding %s to the cart: %w", productID, err)
	}
	return nil
}

func (d *db) removeFromCart(ctx context.Context, session, productID string) error {
	_, err := d.c.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(tableCarts),
		Key:                       key(session),
		UpdateExpression:          aws.String("REMOVE #q ADD rev :one"),
		ConditionExpression:       aws.String("attribute_exists(id)"),
		ExpressionAttributeNames:  map[string]string{"#q": qtyPrefix + productID},
		ExpressionAttributeValues: map[string]types.AttributeValue{":one": num(1)},
	})
	if err != nil && !isConditionFailed(err) {
		return fmt.Errorf("removing %s from the cart: %w", productID, err)
	}
	return nil
}

// cart reads a session's cart and prices it. Lines whose product no
// longer exists are left out.
func (d *db) cart(ctx context.Context, session string) (Cart, error) {
	out, err := d.c.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(tableCarts), Key: key(session), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return Cart{}, fmt.Errorf("reading the cart: %w", err)
	}
	cart := Cart{rev: getN(out.Item, "rev")}
	for _, name := range slices.Sorted(maps.Keys(out.Item)) {
		id, ok := strings.CutPrefix(name, qtyPrefix)
		q := getN(out.Item, name)
		if !ok || q <= 0 {
			continue
		}
		p, err := d.product(ctx, id)
		if errors.Is(err, errNotFound) {
			continue
		}
		if err != nil {
			return Cart{}, err
		}
		cart.Lines = append(cart.Lines, CartLine{
			ProductID: id, Name: p.Name, Icon: p.Icon, Quantity: q,
			PriceCents: p.PriceCents, SubtotalCents: q * p.PriceCents,
		})
		cart.TotalCents += q * p.PriceCents
	}
	return cart, nil
}

// ---- checkout and orders ----

// checkout turns a session's cart into an order in one transaction: it
// takes every line's units from this region's allocation (ADD stock -q,
// only if stock >= q), writes the order, and deletes the cart if it is
// still the revision that was priced. Either all of that happens or none.
func (d *db) checkout(ctx context.Context, session, instance string, now time.Time) (Order, error) {
	cart, err := d.cart(ctx, session)
	if err != nil {
		return Order{}, err
	}
	if len(cart.Lines) == 0 {
		return Order{}, errEmptyCart
	}
	order := Order{
		ID: newID(), Region: d.region, Instance: instance, CreatedAt: now.UTC().Truncate(time.Millisecond),
		Status: "confirmed", Lines: cart.Lines, TotalCents: cart.TotalCents,
	}
	return d.place(ctx, session, cart.rev, order)
}

// place runs the checkout transaction for an order priced from revision
// rev of the session's cart. Placing the same order twice (an SDK retry
// after a lost answer) returns the order the first attempt placed.
func (d *db) place(ctx context.Context, session string, rev int64, order Order) (Order, error) {
	var actions []types.TransactWriteItem
	for _, l := range order.Lines {
		actions = append(actions, types.TransactWriteItem{Update: &types.Update{
			TableName:                           aws.String(tableInventory),
			Key:                                 key(stockKey(l.ProductID, d.region)),
			UpdateExpression:                    aws.String("ADD stock :taken"),
			ConditionExpression:                 aws.String("stock >= :q"),
			ExpressionAttributeValues:           map[string]types.AttributeValue{":taken": num(-l.Quantity), ":q": num(l.Quantity)},
			ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
		}})
	}
	item := orderItem(order)
	item["session"] = str(session)
	actions = append(actions,
		types.TransactWriteItem{Put: &types.Put{
			TableName: aws.String(tableOrders), Item: item,
			ConditionExpression: aws.String("attribute_not_exists(id)"),
		}},
		types.TransactWriteItem{Delete: &types.Delete{
			TableName: aws.String(tableCarts), Key: key(session),
			ConditionExpression:       aws.String("rev = :rev"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":rev": num(rev)},
		}},
	)
	_, err := d.c.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{
		TransactItems:      actions,
		ClientRequestToken: aws.String(order.ID),
	})
	var tc *types.TransactionCanceledException
	if errors.As(err, &tc) {
		return d.canceled(ctx, order, tc.CancellationReasons)
	}
	if err != nil {
		return Order{}, fmt.Errorf("checking out: %w", err)
	}
	return order, nil
}

// canceled explains a cancelled checkout transaction.
func (d *db) canceled(ctx context.Context, order Order, reasons []types.CancellationReason) (Order, error) {
	failed := func(i int) bool { return i < len(reasons) && aws.ToString(reasons[i].Code) == "ConditionalCheckFailed" }
	if failed(len(order.Lines) + 1) {
		// The cart is gone or changed. If this very order exists, an SDK
		// retry of a transaction that had already committed found its own
		// work done: that is success, whatever the stock says now.
		if o, err := d.order(ctx, order.ID); err == nil {
			return o, nil
		}
	}
	for i, l := range order.Lines {
		if failed(i) {
			return Order{}, &OutOfStockError{
				ProductID: l.ProductID, Name: l.Name, Region: d.region,
				Requested: l.Quantity, Available: getN(reasons[i].Item, "stock"),
			}
		}
	}
	if failed(len(order.Lines) + 1) {
		return Order{}, errCartChanged
	}
	return Order{}, fmt.Errorf("checking out: transaction cancelled: %v", reasonCodes(reasons))
}

func reasonCodes(reasons []types.CancellationReason) []string {
	var out []string
	for _, r := range reasons {
		out = append(out, aws.ToString(r.Code))
	}
	return out
}

func orderItem(o Order) map[string]types.AttributeValue {
	var lines []types.AttributeValue
	for _, l := range o.Lines {
		lines = append(lines, &types.AttributeValueMemberM{Value: map[string]types.AttributeValue{
			"product_id":  str(l.ProductID),
			"name":        str(l.Name),
			"icon":        str(l.Icon),
			"quantity":    num(l.Quantity),
			"price_cents": num(l.PriceCents),
		}})
	}
	return map[string]types.AttributeValue{
		"id":          str(o.ID),
		"region":      str(o.Region),
		"instance":    str(o.Instance),
		"created_at":  str(o.CreatedAt.Format(time.RFC3339Nano)),
		"status":      str(o.Status),
		"lines":       &types.AttributeValueMemberL{Value: lines},
		"total_cents": num(o.TotalCents),
	}
}

func (d *db) order(ctx context.Context, id string) (Order, error) {
	out, err := d.c.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(tableOrders), Key: key(id), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return Order{}, fmt.Errorf("reading order %s: %w", id, err)
	}
	if out.Item == nil {
		return Order{}, fmt.Errorf("order %s: %w", id, errNotFound)
	}
	item := out.Item
	created, _ := time.Parse(time.RFC3339Nano, getS(item, "created_at"))
	o := Order{
		ID: id, Region: getS(item, "region"), Instance: getS(item, "instance"), CreatedAt: created,
		Status: getS(item, "status"), TotalCents: getN(item, "total_cents"),
	}
	if l, ok := item["lines"].(*types.AttributeValueMemberL); ok {
		for _, v := range l.Value {
			m, ok := v.(*types.AttributeValueMemberM)
			if !ok {
				continue
			}
			line := CartLine{
				ProductID: getS(m.Value, "product_id"), Name: getS(m.Value, "name"), Icon: getS(m.Value, "icon"),
				Quantity: getN(m.Value, "quantity"), PriceCents: getN(m.Value, "price_cents"),
			}
			line.SubtotalCents = line.Quantity * line.PriceCents
			o.Lines = append(o.Lines, line)
		}
	}
	return o, nil
}

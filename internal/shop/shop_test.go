package shop

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/meridian-platform/meridian/internal/testcluster"
)

// TestShop runs the shop against a real two-region Meridian API: two
// instances in us-east (which race to create the tables) and one in
// eu-west, then shops through the JSON API, the HTML forms and a headless
// browser, and sells the last units from both regions at once.
func TestShop(t *testing.T) {
	c := newCluster(t)
	var east []*instance
	var wg sync.WaitGroup
	for _, name := range []string{"us-east-a", "us-east-b"} {
		in := startShop(t, testConfig(t, c, "us-east", name))
		east = append(east, in)
		wg.Go(func() { awaitHealthy(t, in) })
	}
	wg.Wait()
	west := startShop(t, testConfig(t, c, "eu-west", "eu-west-a"))
	awaitHealthy(t, west)
	shops := []*instance{east[0], east[1], west}

	t.Run("headers", func(t *testing.T) { testHeaders(t, shops) })
	t.Run("api", func(t *testing.T) { testAPI(t, east[0], west) })
	t.Run("forms", func(t *testing.T) { testForms(t, east[1]) })
	t.Run("images", func(t *testing.T) { testImages(t, east[0], west) })
	t.Run("browser", func(t *testing.T) { testBrowser(t, west) })
	t.Run("replayed-checkout", func(t *testing.T) { testReplayedCheckout(t, c) })
	t.Run("no-oversell", func(t *testing.T) { testNoOversell(t, c, east, west) })
	// Last: stops eu-west's region node.
	t.Run("healthz", func(t *testing.T) { testHealthz(t, c, east[0], west) })
}

func testHeaders(t *testing.T, shops []*instance) {
	for _, in := range shops {
		for _, req := range []struct{ method, path, body string }{
			{"GET", "/", ""},
			{"GET", "/healthz", ""},
			{"GET", "/static/shop.css", ""},
			{"GET", "/products/mug", ""},
			{"GET", "/products/nosuch", ""},
			{"GET", "/api/products", ""},
			{"GET", "/api/orders/nosuch", ""},
			{"POST", "/api/checkout", ""},
			{"POST", "/api/cart", "not json"},
			{"DELETE", "/api/products", ""},
			{"GET", "/no/such/page", ""},
		} {
			resp, _ := do(t, http.DefaultClient, req.method, in.URL+req.path, req.body) //nolint:bodyclose // do closes the body before returning
			if r, i := resp.Header.Get(HeaderRegion), resp.Header.Get(HeaderInstance); r != in.Region || i != in.Name {
				t.Errorf("%s %s on %s: got %s=%q %s=%q (status %d), want %q and %q",
					req.method, req.path, in.Name, HeaderRegion, r, HeaderInstance, i, resp.StatusCode, in.Region, in.Name)
			}
		}
	}
}

func testAPI(t *testing.T, east, west *instance) {
	c := browser(t)
	var products []productView
	call(t, c, "GET", east.URL+"/api/products", "", http.StatusOK, &products)
	if len(products) != len(DefaultCatalog()) || products[0].ID != "mug" {
		t.Fatalf("catalog: got %d products starting with %+v, want the %d of DefaultCatalog in order", len(products), products[0], len(DefaultCatalog()))
	}
	for _, p := range products {
		if p.Allocation["us-east"]+p.Allocation["eu-west"] != p.Stock || p.Stock-p.Allocation["us-east"] > p.Allocation["us-east"]+1 {
			t.Errorf("%s: allocation %v does not split %d units evenly", p.ID, p.Allocation, p.Available)
		}
	}
	var mug productView
	call(t, c, "GET", east.URL+"/api/products/mug", "", http.StatusOK, &mug)
	if mug.Available.Here != 150 || mug.Available.Total != 300 {
		t.Fatalf("mug stock before buying: got %+v, want 150 here and 300 in total", mug.Available)
	}
	call(t, c, "GET", east.URL+"/api/products/nosuch", "", http.StatusNotFound, nil)

	var cart Cart
	call(t, c, "POST", east.URL+"/api/cart", `{"product_id":"mug","quantity":2}`, http.StatusOK, &cart)
	call(t, c, "POST", east.URL+"/api/cart", `{"product_id":"tee"}`, http.StatusOK, &cart)
	call(t, c, "POST", east.URL+"/api/cart", `{"product_id":"nosuch"}`, http.StatusNotFound, nil)
	call(t, c, "POST", east.URL+"/api/cart", `{"product_id":"mug","quantity":98}`, http.StatusBadRequest, nil)
	call(t, c, "POST", east.URL+"/api/cart", `{"product_id":"mug","quantity":-1}`, http.StatusBadRequest, nil)
	if len(cart.Lines) != 2 || cart.TotalCents != 2*1400+2500 {
		t.Fatalf("cart: got %+v, want 2 mugs and a tee for $53.00", cart)
	}
	call(t, c, "DELETE", east.URL+"/api/cart/tee", "", http.StatusOK, &cart)
	call(t, c, "GET", east.URL+"/api/cart", "", http.StatusOK, &cart)
	if len(cart.Lines) != 1 || cart.Lines[0].ProductID != "mug" || cart.Lines[0].Quantity != 2 || cart.TotalCents != 2800 {
		t.Fatalf("cart after removing the tee: got %+v, want 2 mugs for $28.00", cart)
	}

	var order Order
	call(t, c, "POST", east.URL+"/api/checkout", "", http.StatusCreated, &order)
	if order.Region != "us-east" || order.Instance != east.Name || order.TotalCents != 2800 || len(order.Lines) != 1 || order.Status != "confirmed" {
		t.Fatalf("order: got %+v", order)
	}
	call(t, c, "GET", east.URL+"/api/cart", "", http.StatusOK, &cart)
	if len(cart.Lines) != 0 {
		t.Errorf("cart after checkout: got %+v, want empty", cart)
	}
	call(t, c, "POST", east.URL+"/api/checkout", "", http.StatusBadRequest, nil)
	var got Order
	call(t, c, "GET", east.URL+"/api/orders/"+order.ID, "", http.StatusOK, &got)
	if fmt.Sprint(got) != fmt.Sprint(order) {
		t.Errorf("order read back: got %+v, want %+v", got, order)
	}
	call(t, c, "GET", east.URL+"/api/products/mug", "", http.StatusOK, &mug)
	if mug.Available.Here != 148 {
		t.Errorf("mug stock in us-east after buying 2: got %d, want 148", mug.Available.Here)
	}

	// The order and the stock change replicate to eu-west, whose own
	// allocation is untouched.
	await(t, 20*time.Second, "the order and stock in eu-west", func() (bool, string) {
		code, body := get(t, c, west.URL+"/api/orders/"+order.ID)
		var wm productView
		call(t, c, "GET", west.URL+"/api/products/mug", "", http.StatusOK, &wm)
		return code == http.StatusOK && wm.Available.Here == 150 && wm.Available.Total == 298, fmt.Sprintf("order: %d %s; mug: %+v", code, body, wm.Available)
	})
}

func testForms(t *testing.T, in *instance) {
	c := browser(t)
	code, body := get(t, c, in.URL+"/")
	if code != http.StatusOK || !strings.Contains(body, "Meridian mug") || !strings.Contains(body, `id="add-notebook"`) {
		t.Fatalf("catalog page: got %d %s", code, body)
	}
	code, body = get(t, c, in.URL+"/products/notebook")
	if code != http.StatusOK || !strings.Contains(body, "Runbook notebook") || !strings.Contains(body, "250 left in us-east") {
		t.Fatalf("product page: got %d %s", code, body)
	}
	code, _ = get(t, c, in.URL+"/products/nosuch")
	if code != http.StatusNotFound {
		t.Errorf("missing product page: got %d, want 404", code)
	}
	resp, body := do(t, c, "POST", in.URL+"/cart/add", url.Values{"product_id": {"notebook"}, "quantity": {"3"}}.Encode()) //nolint:bodyclose // do closes the body before returning
	if resp.StatusCode != http.StatusOK || resp.Request.URL.Path != "/cart" || !strings.Contains(body, "Runbook notebook") || !strings.Contains(body, "$27.00") {
		t.Fatalf("after adding to the cart: got %d at %s: %s", resp.StatusCode, resp.Request.URL.Path, body)
	}
	if !strings.Contains(body, "Cart (3)") {
		t.Errorf("the header does not count 3 units in the cart: %s", body)
	}
	resp, body = do(t, c, "POST", in.URL+"/checkout", "") //nolint:bodyclose // do closes the body before returning
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Request.URL.Path, "/orders/") || !strings.Contains(body, "Thank you") {
		t.Fatalf("after checkout: got %d at %s: %s", resp.StatusCode, resp.Request.URL.Path, body)
	}
	resp, body = do(t, c, "POST", in.URL+"/checkout", "") //nolint:bodyclose // do closes the body before returning
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "Your cart is empty") {
		t.Errorf("checking out an empty cart: got %d: %s", resp.StatusCode, body)
	}
}

// testNoOversell sells the scarce print (6 units: 3 allocated to each
// region) to 8 buyers in each region at once. Each region must sell
// exactly its 3 and refuse the rest, and once the regions have exchanged
// their writes, both must agree that nothing is left and exactly 6 units
// were sold.
func testNoOversell(t *testing.T, c *testcluster.Cluster, east []*instance, west *instance) {
	const perRegion = 8
	type buyer struct {
		c  *http.Client
		in *instance
	}
	var buyers []buyer
	for i := range 2 * perRegion {
		in := west
		if i < perRegion {
			in = east[i%2] // both us-east instances sell from one allocation
		}
		b := buyer{browser(t), in}
		call(t, b.c, "POST", in.URL+"/api/cart", `{"product_id":"print"}`, http.StatusOK, nil)
		buyers = append(buyers, b)
	}
	start := make(chan struct{})
	codes := make([]int, len(buyers))
	bodies := make([]string, len(buyers))
	var wg sync.WaitGroup
	for i, b := range buyers {
		wg.Go(func() {
			<-start
			resp, body := do(t, b.c, "POST", b.in.URL+"/api/checkout", "") //nolint:bodyclose // do closes the body before returning
			codes[i], bodies[i] = resp.StatusCode, body
		})
	}
	close(start)
	wg.Wait()
	sold := map[string]int{}
	for i, b := range buyers {
		switch codes[i] {
		case http.StatusCreated:
			sold[b.in.Region]++
		case http.StatusConflict:
			if !strings.Contains(bodies[i], `"available":0`) {
				t.Errorf("refused checkout in %s: got %s, want available 0", b.in.Region, bodies[i])
			}
		default:
			t.Errorf("checkout in %s: got %d %s, want 201 or 409", b.in.Region, codes[i], bodies[i])
		}
	}
	if sold["us-east"] != 3 || sold["eu-west"] != 3 {
		t.Errorf("sold %v, want exactly each region's allocation of 3", sold)
	}

	// After replication every region sees 0 left everywhere.
	for _, in := range []*instance{east[0], west} {
		await(t, 20*time.Second, "print sold out in "+in.Region, func() (bool, string) {
			var p productView
			call(t, http.DefaultClient, "GET", in.URL+"/api/products/print", "", http.StatusOK, &p)
			return p.Available.Here == 0 && p.Available.Total == 0, fmt.Sprintf("%+v", p.Available)
		})
	}
	// The orders table, read in each region once converged, holds exactly
	// 6 prints, and the stock counters never went below 0.
	c.AwaitConverged(t, 30*time.Second)
	for _, region := range c.Regions() {
		db := dynamoClient(c, region)
		if n := printsOrdered(t, db); n != 6 {
			t.Errorf("%s: %d prints ordered, want 6", region, n)
		}
		for _, owner := range c.Regions() {
			out, err := db.GetItem(context.Background(), &dynamodb.GetItemInput{TableName: aws.String(tableInventory), Key: key(stockKey("print", owner))})
			if err != nil {
				t.Fatal(err)
			}
			if got := getN(out.Item, "stock"); got != 0 || getN(out.Item, "allocated") != 3 {
				t.Errorf("%s: print stock of %s: got %d of %d, want 0 of 3", region, owner, got, getN(out.Item, "allocated"))
			}
		}
	}
	// A later buyer is refused in both regions.
	for _, in := range []*instance{east[0], west} {
		b := browser(t)
		call(t, b, "POST", in.URL+"/api/cart", `{"product_id":"print"}`, http.StatusOK, nil)
		call(t, b, "POST", in.URL+"/api/checkout", "", http.StatusConflict, nil)
	}
}

// testReplayedCheckout places the same order twice, as an SDK retry after
// a lost answer would: the second attempt returns the order and takes no
// more stock.
func testReplayedCheckout(t *testing.T, c *testcluster.Cluster) {
	ctx := t.Context()
	d := &db{c: dynamoClient(c, "us-east"), region: "us-east"}
	stock := func() int64 {
		left, err := d.inventory(ctx, []string{stockKey("stickers", "us-east")})
		if err != nil {
			t.Fatal(err)
		}
		return left[stockKey("stickers", "us-east")]
	}
	before := stock()
	session := newID()
	if err := d.addToCart(ctx, session, "stickers", 2); err != nil {
		t.Fatal(err)
	}
	cart, err := d.cart(ctx, session)
	if err != nil {
		t.Fatal(err)
	}
	order := Order{ID: newID(), Region: "us-east", Status: "confirmed", Lines: cart.Lines, TotalCents: cart.TotalCents, CreatedAt: time.Now().UTC().Truncate(time.Millisecond)}
	for attempt := range 2 {
		got, err := d.place(ctx, session, cart.rev, order)
		if err != nil || got.ID != order.ID {
			t.Fatalf("attempt %d: got %+v, %v, want order %s", attempt+1, got, err, order.ID)
		}
	}
	if after := stock(); after != before-2 {
		t.Errorf("stickers left: got %d, want %d (2 taken once)", after, before-2)
	}
}

func printsOrdered(t *testing.T, db *dynamodb.Client) int64 {
	t.Helper()
	var n int64
	pages := dynamodb.NewScanPaginator(db, &dynamodb.ScanInput{TableName: aws.String(tableOrders)})
	for pages.HasMorePages() {
		page, err := pages.NextPage(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for _, item := range page.Items {
			l, _ := item["lines"].(*types.AttributeValueMemberL)
			for _, v := range l.Value {
				if m, ok := v.(*types.AttributeValueMemberM); ok && getS(m.Value, "product_id") == "print" {
					n += getN(m.Value, "quantity")
				}
			}
		}
	}
	return n
}

func testHealthz(t *testing.T, c *testcluster.Cluster, east, west *instance) {
	var body map[string]string
	call(t, http.DefaultClient, "GET", east.URL+"/healthz", "", http.StatusOK, &body)
	if body["status"] != "ok" || body["region"] != "us-east" || body["instance"] != east.Name {
		t.Errorf("healthz: got %v", body)
	}
	// An instance whose region's API is unreachable is unhealthy; the
	// other region's instances are not affected.
	c.Stop("eu-west")
	await(t, 20*time.Second, "eu-west's instance unhealthy", func() (bool, string) {
		code, b := get(t, http.DefaultClient, west.URL+"/healthz")
		return code == http.StatusServiceUnavailable && strings.Contains(b, `"unhealthy"`), fmt.Sprintf("%d %s", code, b)
	})
	call(t, http.DefaultClient, "GET", east.URL+"/healthz", "", http.StatusOK, nil)
}

// TestStarting: an instance whose API never answers serves 503 everywhere
// and says why on /healthz, and still shuts down cleanly.
func TestStarting(t *testing.T) {
	in := startShop(t, Config{Region: "us-east", Instance: "lonely", Endpoint: "http://127.0.0.1:1", Credentials: aws.AnonymousCredentials{}})
	for _, path := range []string{"/", "/api/products", "/healthz"} {
		resp, body := do(t, http.DefaultClient, "GET", in.URL+path, "") //nolint:bodyclose // do closes the body before returning
		if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get(HeaderInstance) != "lonely" {
			t.Errorf("%s: got %d %s, want 503 from instance lonely", path, resp.StatusCode, body)
		}
		if path == "/healthz" && !strings.Contains(body, `"starting"`) {
			t.Errorf("healthz: got %s, want status starting", body)
		}
	}
}

// testImages: product pictures are in the bucket, served by every instance
// with validators and a Cache-Control an edge cache may honour, and a
// revalidation with the ETag costs no body.
func testImages(t *testing.T, shops ...*instance) {
	for _, in := range shops {
		resp, err := http.Get(in.URL + "/static/products/mug.svg")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		etag := resp.Header.Get("ETag")
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "image/svg+xml" ||
			resp.Header.Get("Cache-Control") != imageCacheControl || etag == "" || !strings.Contains(string(body), "Meridian mug") {
			t.Fatalf("%s GET mug.svg: %s %v %.100q; want 200 image/svg+xml with %q, an ETag and the picture",
				in.Name, resp.Status, resp.Header, body, imageCacheControl)
		}
		req, _ := http.NewRequest(http.MethodGet, in.URL+"/static/products/mug.svg", nil)
		req.Header.Set("If-None-Match", etag)
		resp, err = http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusNotModified {
			t.Errorf("%s GET mug.svg If-None-Match %s: %s, want 304", in.Name, etag, resp.Status)
		}
		if code, _ := get(t, http.DefaultClient, in.URL+"/static/products/nosuch.svg"); code != http.StatusNotFound {
			t.Errorf("%s GET nosuch.svg: %d, want 404", in.Name, code)
		}
		if code, page := get(t, http.DefaultClient, in.URL+"/"); code != http.StatusOK || !strings.Contains(page, `src="/static/products/mug.svg"`) {
			t.Errorf("%s catalog: %d, want 200 with the mug's picture", in.Name, code)
		}
	}
}

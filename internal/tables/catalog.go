package tables

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/meridian-platform/meridian/internal/store"
	"github.com/meridian-platform/meridian/internal/tables/attr"
	"github.com/meridian-platform/meridian/internal/tables/expr"
)

// catalogSpace is the store space of the table catalog: Hash = table name,
// document = JSON of a tableMeta, tombstone = deleted table.
const catalogSpace = "_tables"

// tableMeta is a table's catalog entry. It is replicated; every region
// derives the same table from it.
type tableMeta struct {
	ID         string                 `json:"id"`
	Name       string                 `json:"name"`
	Created    int64                  `json:"created"` // Unix nanoseconds
	Hash       string                 `json:"hash"`
	Range      string                 `json:"range,omitempty"`
	Attrs      []AttributeDefinition  `json:"attrs"`
	Billing    string                 `json:"billing"`
	Throughput *ProvisionedThroughput `json:"throughput,omitempty"`
	Indexes    []*indexMeta           `json:"indexes,omitempty"`
	TTLAttr    string                 `json:"ttl,omitempty"`

	kinds map[string]attr.Kind // attribute name → declared key type
}

// indexMeta is a secondary index. Its ID is unique per creation, so a GSI
// deleted and created again under the same name never sees the old entries.
type indexMeta struct {
	ID         string                 `json:"id"`
	Name       string                 `json:"name"`
	Local      bool                   `json:"local,omitempty"`
	Hash       string                 `json:"hash"`
	Range      string                 `json:"range,omitempty"`
	Projection Projection             `json:"projection"`
	Throughput *ProvisionedThroughput `json:"throughput,omitempty"`
	// Initial indexes were created with the table, so there is nothing to
	// backfill: they are ACTIVE everywhere from the start.
	Initial bool `json:"initial,omitempty"`
}

func (t *tableMeta) space() string { return "t:" + t.ID }

func (t *tableMeta) index(name string) *indexMeta {
	for _, ix := range t.Indexes {
		if ix.Name == name {
			return ix
		}
	}
	return nil
}

func (t *tableMeta) isKey(name string) bool {
	return name == t.Hash || (t.Range != "" && name == t.Range)
}

func (t *tableMeta) init() {
	t.kinds = make(map[string]attr.Kind, len(t.Attrs))
	for _, d := range t.Attrs {
		t.kinds[d.AttributeName] = kindOf(d.AttributeType)
	}
}

func decodeMeta(doc []byte) (*tableMeta, error) {
	var t tableMeta
	if err := json.Unmarshal(doc, &t); err != nil {
		return nil, fmt.Errorf("decoding table catalog entry: %w", err)
	}
	t.init()
	return &t, nil
}

func kindOf(typ string) attr.Kind {
	switch typ {
	case "S":
		return attr.KindS
	case "N":
		return attr.KindN
	case "B":
		return attr.KindB
	}
	return 0
}

func catalogKey(name string) store.Key { return store.Key{Space: catalogSpace, Hash: []byte(name)} }

func newID() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("generating an id: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
}

// loadCatalog reads every live table into the cache, and which indexes this
// region has finished backfilling.
func (e *Engine) loadCatalog() error {
	var metas []*tableMeta
	var decodeErr error
	err := e.st.ScanSpace(catalogSpace, 0, 0, nil, func(k store.Key, st *store.State) bool {
		if st.Base.Deleted || len(st.Base.Doc) == 0 {
			return true
		}
		t, err := decodeMeta(st.Base.Doc)
		if err != nil {
			decodeErr = fmt.Errorf("table %q: %w", k.Hash, err)
			return false
		}
		metas = append(metas, t)
		return true
	})
	if err == nil {
		err = decodeErr
	}
	if err != nil {
		return fmt.Errorf("loading the table catalog: %w", err)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, t := range metas {
		e.setTable(t.Name, t)
		for _, ix := range t.Indexes {
			if ix.Initial {
				continue
			}
			v, err := e.st.GetIndex(builtKey(ix.ID))
			if err != nil {
				return fmt.Errorf("loading index state of %s: %w", ix.Name, err)
			}
			if v != nil {
				e.built[ix.ID] = true
			}
		}
	}
	return nil
}

// catalogChanged is the indexer's hook for catalog entries: it keeps the
// cache in step with local, replicated and repaired catalog writes, and
// persists the built markers of backfilled indexes.
func (e *Engine) catalogChanged(k store.Key, cur *store.State, w store.IndexWriter) {
	name := string(k.Hash)
	var t *tableMeta
	if cur != nil && !cur.Base.Deleted && len(cur.Base.Doc) > 0 {
		var err error
		if t, err = decodeMeta(cur.Base.Doc); err != nil {
			e.log.Error("skipping undecodable catalog entry", "table", name, "err", err)
			return
		}
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.setTable(name, t)
	if t != nil {
		for _, ix := range t.Indexes {
			if e.built[ix.ID] {
				w.Set(builtKey(ix.ID), []byte{1})
			}
		}
	}
	e.signal()
}

// setTable caches a table's catalog entry (nil: deleted). Call with e.mu
// held.
func (e *Engine) setTable(name string, t *tableMeta) {
	if old := e.tables[name]; old != nil {
		delete(e.ids, old.ID)
	}
	if t == nil {
		delete(e.tables, name)
		return
	}
	e.tables[name] = t
	e.ids[t.ID] = t
}

// signal wakes Run (backfills to do). Call with e.mu held or not.
func (e *Engine) signal() {
	select {
	case e.wake <- struct{}{}:
	default:
	}
}

// lookup returns the cached table, or nil.
func (e *Engine) lookup(name string) *tableMeta {
	e.mu.RLock()
	defer e.mu.RUnlock()
	return e.tables[name]
}

// table returns a table for an item operation, or DynamoDB's not-found
// error for item operations.
func (e *Engine) table(name string) (*tableMeta, error) {
	if name == "" {
		return nil, validationf("1 validation error detected: Value null at 'tableName' failed to satisfy constraint: Member must not be null")
	}
	t := e.lookup(name)
	if t == nil {
		return nil, notFound()
	}
	return t, nil
}

// controlTable returns a table for a control-plane operation, whose
// not-found message names the table.
func (e *Engine) controlTable(name string) (*tableMeta, error) {
	if err := checkTableName(name, "tableName"); err != nil {
		return nil, err
	}
	t := e.lookup(name)
	if t == nil {
		return nil, tableNotFound(name)
	}
	return t, nil
}

// validName reports whether name has only the characters DynamoDB allows
// in table and index names: [a-zA-Z0-9_.-].
func validName(name string) bool {
	for _, c := range []byte(name) {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c == '-'
		if !ok {
			return false
		}
	}
	return true
}

func checkTableName(name, field string) error {
	switch {
	case name == "":
		return validationf("1 validation error detected: Value null at '%s' failed to satisfy constraint: Member must not be null", field)
	case len(name) < 3:
		return validationf("1 validation error detected: Value '%s' at '%s' failed to satisfy constraint: Member must have length greater than or equal to 3", name, field)
	case len(name) > 255:
		return validationf("1 validation error detected: Value '%s' at '%s' failed to satisfy constraint: Member must have length less than or equal to 255", name, field)
	case !validName(name):
		return validationf("1 validation error detected: Value '%s' at '%s' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+", name, field)
	}
	return nil
}

// KeySchema returns the key attributes of a table, or of one of its
// indexes when index is not "", for parsing a Query's
// KeyConditionExpression.
func (e *Engine) KeySchema(table, index string) (expr.KeySchema, error) {
	t, err := e.table(table)
	if err != nil {
		return expr.KeySchema{}, err
	}
	if index == "" {
		return expr.KeySchema{Partition: t.Hash, Sort: t.Range}, nil
	}
	ix := t.index(index)
	if ix == nil {
		return expr.KeySchema{}, noIndex(index)
	}
	return expr.KeySchema{Partition: ix.Hash, Sort: ix.Range}, nil
}

func noIndex(name string) *Error {
	return validationf("The table does not have the specified index: %s", name)
}

// keySchemaOf checks a table's or index's KeySchema and returns its hash
// and range attribute names.
func keySchemaOf(ks []KeySchemaElement, what string) (hash, rng string, err error) {
	if len(ks) == 0 {
		return "", "", validationf("1 validation error detected: Value null at '%s' failed to satisfy constraint: Member must not be null", what)
	}
	if len(ks) > 2 {
		return "", "", validationf("1 validation error detected: Value '%v' at '%s' failed to satisfy constraint: Member must have length less than or equal to 2", ks, what)
	}
	for i, k := range ks {
		if k.AttributeName == "" {
			return "", "", validationf("1 validation error detected: Value null at '%s.%d.member.attributeName' failed to satisfy constraint: Member must not be null", what, i+1)
		}
		if k.KeyType != KeyTypeHash && k.KeyType != KeyTypeRange {
			return "", "", validationf("1 validation error detected: Value '%s' at '%s.%d.member.keyType' failed to satisfy constraint: Member must satisfy enum value set: [HASH, RANGE]", k.KeyType, what, i+1)
		}
	}
	if ks[0].KeyType != KeyTypeHash {
		return "", "", validationf("Invalid KeySchema: The first KeySchemaElement is not a HASH key type")
	}
	if len(ks) == 2 {
		if ks[1].KeyType != KeyTypeRange {
			return "", "", validationf("Invalid KeySchema: The second KeySchemaElement is not a RANGE key type")
		}
		if ks[0].AttributeName == ks[1].AttributeName {
			return "", "", validationf("Both the Hash Key and the Range Key element in the KeySchema have the same name")
		}
		return ks[0].AttributeName, ks[1].AttributeName, nil
	}
	return ks[0].AttributeName, "", nil
}

func schemaOf(hash, rng string) []KeySchemaElement {
	ks := []KeySchemaElement{{AttributeName: hash, KeyType: KeyTypeHash}}
	if rng != "" {
		ks = append(ks, KeySchemaElement{AttributeName: rng, KeyType: KeyTypeRange})
	}
	return ks
}

func checkBilling(mode string, tp *ProvisionedThroughput) (string, error) {
	switch mode {
	case "", BillingProvisioned:
		if tp == nil {
			return "", validationf(msgInvalidPrefix + "ReadCapacityUnits and WriteCapacityUnits must both be specified when BillingMode is PROVISIONED")
		}
		if tp.ReadCapacityUnits < 1 || tp.WriteCapacityUnits < 1 {
			return "", validationf(msgInvalidPrefix + "ReadCapacityUnits and WriteCapacityUnits must both be greater than 0")
		}
		return BillingProvisioned, nil
	case BillingPayPerRequest:
		if tp != nil {
			return "", validationf(msgInvalidPrefix + "Neither ReadCapacityUnits nor WriteCapacityUnits can be specified when BillingMode is PAY_PER_REQUEST")
		}
		return BillingPayPerRequest, nil
	}
	return "", validationf("1 validation error detected: Value '%s' at 'billingMode' failed to satisfy constraint: Member must satisfy enum value set: [PROVISIONED, PAY_PER_REQUEST]", mode)
}

// buildIndex validates one index definition against the table.
func buildIndex(t *tableMeta, def SecondaryIndex, local bool, what string) (*indexMeta, error) {
	name := def.IndexName
	if err := checkTableName(name, what+".indexName"); err != nil {
		return nil, err
	}
	hash, rng, err := keySchemaOf(def.KeySchema, what+".keySchema")
	if err != nil {
		return nil, err
	}
	for _, a := range []string{hash, rng} {
		if a != "" && t.kinds[a] == 0 {
			return nil, validationf(msgInvalidPrefix+"Some index key attributes are not defined in AttributeDefinitions. Keys: [%s], AttributeDefinitions: %s", strings.Join(nonEmpty(hash, rng), ", "), attrNames(t.Attrs))
		}
	}
	if local {
		if hash != t.Hash {
			return nil, validationf(msgInvalidPrefix+"Index KeySchema does not have the same leading hash key as table KeySchema for index: %s. index hash key: %s, table hash key: %s", name, hash, t.Hash)
		}
		if t.Range == "" {
			return nil, validationf(msgInvalidPrefix + "Table KeySchema does not have a range key, which is required when specifying a LocalSecondaryIndex")
		}
		if rng == "" {
			return nil, validationf(msgInvalidPrefix+"Index KeySchema does not have a range key for index: %s", name)
		}
	}
	p := def.Projection
	switch p.ProjectionType {
	case "", ProjectionAll, ProjectionKeysOnly:
		if len(p.NonKeyAttributes) > 0 {
			return nil, validationf(msgInvalidPrefix+"ProjectionType is %s, but NonKeyAttributes is specified", orAll(p.ProjectionType))
		}
		if p.ProjectionType == "" {
			p.ProjectionType = ProjectionAll
		}
	case ProjectionInclude:
		if len(p.NonKeyAttributes) == 0 {
			return nil, validationf(msgInvalidPrefix + "ProjectionType is INCLUDE, but NonKeyAttributes is not specified")
		}
		seen := map[string]bool{}
		for _, a := range p.NonKeyAttributes {
			if seen[a] {
				return nil, validationf(msgInvalidPrefix+"Duplicate attributes in NonKeyAttributes: %s", a)
			}
			seen[a] = true
		}
		p.NonKeyAttributes = slices.Clone(p.NonKeyAttributes)
	default:
		return nil, validationf("1 validation error detected: Value '%s' at '%s.projection.projectionType' failed to satisfy constraint: Member must satisfy enum value set: [ALL, INCLUDE, KEYS_ONLY]", p.ProjectionType, what)
	}
	id, err := newID()
	if err != nil {
		return nil, internal(err)
	}
	return &indexMeta{ID: id, Name: name, Local: local, Hash: hash, Range: rng, Projection: p, Throughput: def.ProvisionedThroughput}, nil
}

func orAll(s string) string {
	if s == "" {
		return ProjectionAll
	}
	return s
}

func nonEmpty(ss ...string) []string {
	var out []string
	for _, s := range ss {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}

func attrNames(defs []AttributeDefinition) string {
	names := make([]string, len(defs))
	for i, d := range defs {
		names[i] = d.AttributeName
	}
	return "[" + strings.Join(names, ", ") + "]"
}

// checkAttrDefs validates AttributeDefinitions: types S, N or B, no
// duplicates.
func checkAttrDefs(defs []AttributeDefinition) error {
	seen := map[string]bool{}
	for i, d := range defs {
		if d.AttributeName == "" {
			return validationf("1 validation error detected: Value null at 'attributeDefinitions.%d.member.attributeName' failed to satisfy constraint: Member must not be null", i+1)
		}
		if kindOf(d.AttributeType) == 0 {
			return validationf("1 validation error detected: Value '%s' at 'attributeDefinitions.%d.member.attributeType' failed to satisfy constraint: Member must satisfy enum value set: [B, N, S]", d.AttributeType, i+1)
		}
		if seen[d.AttributeName] {
			return validationf("Cannot have two attributes with the same name in AttributeDefinitions: %s", d.AttributeName)
		}
		seen[d.AttributeName] = true
	}
	return nil
}

// usedAttrs are the attribute names the key schemas of a table and its
// indexes use.
func usedAttrs(t *tableMeta) map[string]bool {
	used := map[string]bool{t.Hash: true}
	if t.Range != "" {
		used[t.Range] = true
	}
	for _, ix := range t.Indexes {
		used[ix.Hash] = true
		if ix.Range != "" {
			used[ix.Range] = true
		}
	}
	return used
}

func checkAttrsUsed(t *tableMeta) error {
	used := usedAttrs(t)
	var extra bool
	for _, d := range t.Attrs {
		if !used[d.AttributeName] {
			extra = true
		}
	}
	if !extra {
		return nil
	}
	if len(t.Indexes) == 0 {
		return validationf(msgInvalidPrefix + "Number of attributes in KeySchema does not exactly match number of attributes defined in AttributeDefinitions")
	}
	keys := make([]string, 0, len(used))
	for a := range used {
		keys = append(keys, a)
	}
	sort.Strings(keys)
	return validationf(msgInvalidPrefix+"Some AttributeDefinitions are not used. AttributeDefinitions: %s, keys used: [%s]", attrNames(t.Attrs), strings.Join(keys, ", "))
}

// CreateTable creates a global table. It fails with ResourceInUseException
// when a table of that name exists.
func (e *Engine) CreateTable(ctx context.Context, in *CreateTableInput) (*CreateTableOutput, error) {
	if err := checkTableName(in.TableName, "tableName"); err != nil {
		return nil, err
	}
	if err := checkAttrDefs(in.AttributeDefinitions); err != nil {
		return nil, err
	}
	hash, rng, err := keySchemaOf(in.KeySchema, "keySchema")
	if err != nil {
		return nil, err
	}
	billing, err := checkBilling(in.BillingMode, in.ProvisionedThroughput)
	if err != nil {
		return nil, err
	}
	id, err := newID()
	if err != nil {
		return nil, internal(err)
	}
	t := &tableMeta{ID: id, Name: in.TableName, Created: e.cfg.Now().UnixNano(), Hash: hash, Range: rng,
		Attrs: slices.Clone(in.AttributeDefinitions), Billing: billing, Throughput: in.ProvisionedThroughput}
	t.init()
	for _, a := range []string{hash, rng} {
		if a != "" && t.kinds[a] == 0 {
			return nil, validationf(msgInvalidPrefix+"Some index key attributes are not defined in AttributeDefinitions. Keys: [%s], AttributeDefinitions: %s", strings.Join(nonEmpty(hash, rng), ", "), attrNames(t.Attrs))
		}
	}
	if len(in.GlobalSecondaryIndexes) > 20 {
		return nil, validationf(msgInvalidPrefix + "GlobalSecondaryIndex count exceeds the per-table limit of 20")
	}
	if len(in.LocalSecondaryIndexes) > 5 {
		return nil, validationf(msgInvalidPrefix + "LocalSecondaryIndex count exceeds the per-table limit of 5")
	}
	names := map[string]bool{}
	add := func(defs []SecondaryIndex, local bool, what string) error {
		for i, def := range defs {
			if names[def.IndexName] {
				return validationf(msgInvalidPrefix+"Duplicate index name: %s", def.IndexName)
			}
			names[def.IndexName] = true
			ix, err := buildIndex(t, def, local, fmt.Sprintf("%s.%d.member", what, i+1))
			if err != nil {
				return err
			}
			if !local && billing == BillingProvisioned && def.ProvisionedThroughput == nil {
				return validationf(msgInvalidPrefix+"ProvisionedThroughput must be specified for index: %s", def.IndexName)
			}
			ix.Initial = true
			t.Indexes = append(t.Indexes, ix)
		}
		return nil
	}
	if err := add(in.LocalSecondaryIndexes, true, "localSecondaryIndexes"); err != nil {
		return nil, err
	}
	if err := add(in.GlobalSecondaryIndexes, false, "globalSecondaryIndexes"); err != nil {
		return nil, err
	}
	if err := checkAttrsUsed(t); err != nil {
		return nil, err
	}
	doc, err := json.Marshal(t)
	if err != nil {
		return nil, internal(err)
	}
	key := catalogKey(t.Name)
	_, err = e.st.Update(ctx, []store.Key{key}, func(states []*store.State) ([]store.Mutation, error) {
		if st := states[0]; st != nil && !st.Base.Deleted && len(st.Base.Doc) > 0 {
			return nil, &Error{Code: CodeResourceInUse, Message: "Table already exists: " + t.Name}
		}
		return []store.Mutation{{Key: key, Put: doc}}, nil
	})
	if err != nil {
		return nil, asError(err)
	}
	d := e.describe(t)
	d.TableStatus = StatusCreating
	return &CreateTableOutput{TableDescription: d}, nil
}

// describe renders a table's description as this region sees it.
func (e *Engine) describe(t *tableMeta) *TableDescription {
	arn := fmt.Sprintf("arn:aws:dynamodb:%s:%s:table/%s", e.cfg.Region, e.cfg.AccountID, t.Name)
	d := &TableDescription{
		TableName:            t.Name,
		TableID:              t.ID,
		TableArn:             arn,
		TableStatus:          StatusActive,
		CreationDateTime:     time.Unix(0, t.Created).UTC(),
		KeySchema:            schemaOf(t.Hash, t.Range),
		AttributeDefinitions: slices.Clone(t.Attrs),
		BillingMode:          t.Billing,
	}
	if t.Throughput != nil {
		tp := *t.Throughput
		d.ProvisionedThroughput = &tp
	}
	e.mu.RLock()
	for _, ix := range t.Indexes {
		id := IndexDescription{
			IndexName:  ix.Name,
			IndexArn:   arn + "/index/" + ix.Name,
			KeySchema:  schemaOf(ix.Hash, ix.Range),
			Projection: Projection{ProjectionType: ix.Projection.ProjectionType, NonKeyAttributes: slices.Clone(ix.Projection.NonKeyAttributes)},
		}
		if ix.Local {
			d.LocalSecondaryIndexes = append(d.LocalSecondaryIndexes, id)
			continue
		}
		id.IndexStatus = StatusActive
		if !ix.Initial && !e.built[ix.ID] {
			id.IndexStatus = StatusCreating
			id.Backfilling = true
		}
		if ix.Throughput != nil {
			tp := *ix.Throughput
			id.ProvisionedThroughput = &tp
		}
		d.GlobalSecondaryIndexes = append(d.GlobalSecondaryIndexes, id)
	}
	e.mu.RUnlock()
	for _, r := range e.cfg.Regions {
		d.Replicas = append(d.Replicas, ReplicaDescription{RegionName: r, ReplicaStatus: StatusActive})
	}
	return d
}

// DescribeTable describes a table.
func (e *Engine) DescribeTable(_ context.Context, in *DescribeTableInput) (*DescribeTableOutput, error) {
	t, err := e.controlTable(in.TableName)
	if err != nil {
		return nil, err
	}
	return &DescribeTableOutput{Table: e.describe(t)}, nil
}

// ListTables lists table names in order, a page at a time.
func (e *Engine) ListTables(_ context.Context, in *ListTablesInput) (*ListTablesOutput, error) {
	limit := in.Limit
	switch {
	case limit == 0:
		limit = 100
	case limit < 1:
		return nil, validationf("1 validation error detected: Value '%d' at 'limit' failed to satisfy constraint: Member must have value greater than or equal to 1", limit)
	case limit > 100:
		return nil, validationf("1 validation error detected: Value '%d' at 'limit' failed to satisfy constraint: Member must have value less than or equal to 100", limit)
	}
	if in.ExclusiveStartTableName != "" {
		if err := checkTableName(in.ExclusiveStartTableName, "exclusiveStartTableName"); err != nil {
			return nil, err
		}
	}
	e.mu.RLock()
	names := make([]string, 0, len(e.tables))
	for n := range e.tables {
		if n > in.ExclusiveStartTableName {
			names = append(names, n)
		}
	}
	e.mu.RUnlock()
	sort.Strings(names)
	out := &ListTablesOutput{TableNames: names}
	if len(names) > limit {
		out.TableNames = names[:limit]
		out.LastEvaluatedTableName = names[limit-1]
	}
	return out, nil
}

// updateMeta rewrites a table's catalog entry atomically: change gets a
// copy of the current entry and edits it.
func (e *Engine) updateMeta(ctx context.Context, name string, change func(t *tableMeta) error) (*tableMeta, error) {
	key := catalogKey(name)
	var out *tableMeta
	_, err := e.st.Update(ctx, []store.Key{key}, func(states []*store.State) ([]store.Mutation, error) {
		st := states[0]
		if st == nil || st.Base.Deleted || len(st.Base.Doc) == 0 {
			return nil, tableNotFound(name)
		}
		t, err := decodeMeta(st.Base.Doc)
		if err != nil {
			return nil, err
		}
		if err := change(t); err != nil {
			return nil, err
		}
		doc, err := json.Marshal(t)
		if err != nil {
			return nil, err
		}
		out = t
		return []store.Mutation{{Key: key, Put: doc}}, nil
	})
	if err != nil {
		return nil, asError(err)
	}
	return out, nil
}

// UpdateTable creates and deletes GSIs and changes billing settings. A new
// GSI is CREATING in each region until that region has backfilled it (Run
// does), then ACTIVE.
func (e *Engine) UpdateTable(ctx context.Context, in *UpdateTableInput) (*UpdateTableOutput, error) {
	if _, err := e.controlTable(in.TableName); err != nil {
		return nil, err
	}
	if err := checkAttrDefs(in.AttributeDefinitions); err != nil {
		return nil, err
	}
	if len(in.GlobalSecondaryIndexUpdates) == 0 && in.BillingMode == "" && in.ProvisionedThroughput == nil {
		return nil, validationf("At least one of ProvisionedThroughput, BillingMode, UpdateStreamEnabled, GlobalSecondaryIndexUpdates or SSESpecification or ReplicaUpdates is required")
	}
	creates := 0
	for _, u := range in.GlobalSecondaryIndexUpdates {
		n := 0
		for _, set := range []bool{u.Create != nil, u.Delete != nil, u.Update != nil} {
			if set {
				n++
			}
		}
		if n != 1 {
			return nil, validationf("One or more parameter values were invalid: One of GlobalSecondaryIndexUpdate.Update, GlobalSecondaryIndexUpdate.Create, GlobalSecondaryIndexUpdate.Delete must not be null")
		}
		if u.Create != nil {
			creates++
		}
	}
	if creates > 1 {
		return nil, &Error{Code: CodeLimitExceeded, Message: "Subscriber limit exceeded: Only 1 online index can be created or deleted simultaneously per table"}
	}
	t, err := e.updateMeta(ctx, in.TableName, func(t *tableMeta) error {
		if in.BillingMode != "" || in.ProvisionedThroughput != nil {
			mode := in.BillingMode
			if mode == "" {
				mode = t.Billing
			}
			b, err := checkBilling(mode, in.ProvisionedThroughput)
			if err != nil {
				return err
			}
			t.Billing, t.Throughput = b, in.ProvisionedThroughput
		}
		for _, d := range in.AttributeDefinitions {
			if k, ok := t.kinds[d.AttributeName]; ok && k != kindOf(d.AttributeType) {
				return validationf(msgInvalidPrefix+"Cannot change the type of attribute %s, which is used in a key schema", d.AttributeName)
			}
			if _, ok := t.kinds[d.AttributeName]; !ok {
				t.Attrs = append(t.Attrs, d)
			}
		}
		t.init()
		for i, u := range in.GlobalSecondaryIndexUpdates {
			switch {
			case u.Create != nil:
				if t.index(u.Create.IndexName) != nil {
					return validationf(msgInvalidPrefix+"Index with name %s already exists", u.Create.IndexName)
				}
				ix, err := buildIndex(t, *u.Create, false, fmt.Sprintf("globalSecondaryIndexUpdates.%d.member.create", i+1))
				if err != nil {
					return err
				}
				t.Indexes = append(t.Indexes, ix)
			case u.Delete != nil:
				ix := t.index(u.Delete.IndexName)
				if ix == nil || ix.Local {
					return &Error{Code: CodeResourceNotFound, Message: msgNotFound + ": Index: " + u.Delete.IndexName + " not found"}
				}
				t.Indexes = slices.DeleteFunc(t.Indexes, func(x *indexMeta) bool { return x == ix })
			case u.Update != nil:
				if ix := t.index(u.Update.IndexName); ix == nil || ix.Local {
					return &Error{Code: CodeResourceNotFound, Message: msgNotFound + ": Index: " + u.Update.IndexName + " not found"}
				} else if u.Update.ProvisionedThroughput != nil {
					tp := *u.Update.ProvisionedThroughput
					ix.Throughput = &tp
				}
			}
		}
		// Drop definitions no key schema uses any more, as DynamoDB does.
		used := usedAttrs(t)
		t.Attrs = slices.DeleteFunc(t.Attrs, func(d AttributeDefinition) bool { return !used[d.AttributeName] })
		t.init()
		return checkAttrsUsed(t)
	})
	if err != nil {
		return nil, err
	}
	return &UpdateTableOutput{TableDescription: e.describe(t)}, nil
}

// DeleteTable deletes a table in every region: its catalog entry becomes a
// tombstone and its items become unreachable (see docs/tables.md for their
// storage).
func (e *Engine) DeleteTable(ctx context.Context, in *DeleteTableInput) (*DeleteTableOutput, error) {
	if err := checkTableName(in.TableName, "tableName"); err != nil {
		return nil, err
	}
	key := catalogKey(in.TableName)
	var t *tableMeta
	_, err := e.st.Update(ctx, []store.Key{key}, func(states []*store.State) ([]store.Mutation, error) {
		st := states[0]
		if st == nil || st.Base.Deleted || len(st.Base.Doc) == 0 {
			return nil, tableNotFound(in.TableName)
		}
		var err error
		if t, err = decodeMeta(st.Base.Doc); err != nil {
			return nil, err
		}
		return []store.Mutation{{Key: key, Delete: true}}, nil
	})
	if err != nil {
		return nil, asError(err)
	}
	d := e.describe(t)
	d.TableStatus = StatusDeleting
	return &DeleteTableOutput{TableDescription: d}, nil
}

// UpdateTimeToLive enables or disables TTL.
func (e *Engine) UpdateTimeToLive(ctx context.Context, in *UpdateTimeToLiveInput) (*UpdateTimeToLiveOutput, error) {
	if _, err := e.controlTable(in.TableName); err != nil {
		return nil, err
	}
	spec := in.TimeToLiveSpecification
	if spec.AttributeName == "" {
		return nil, validationf("1 validation error detected: Value null at 'timeToLiveSpecification.attributeName' failed to satisfy constraint: Member must not be null")
	}
	if len(spec.AttributeName) > 255 {
		return nil, validationf("1 validation error detected: Value '%s' at 'timeToLiveSpecification.attributeName' failed to satisfy constraint: Member must have length less than or equal to 255", spec.AttributeName)
	}
	_, err := e.updateMeta(ctx, in.TableName, func(t *tableMeta) error {
		switch {
		case spec.Enabled && t.TTLAttr != "":
			return validationf("TimeToLive is already enabled")
		case !spec.Enabled && t.TTLAttr == "":
			return validationf("TimeToLive is already disabled")
		case !spec.Enabled && t.TTLAttr != spec.AttributeName:
			return validationf("TimeToLive is enabled on a different attribute: %s", t.TTLAttr)
		}
		if spec.Enabled {
			t.TTLAttr = spec.AttributeName
		} else {
			t.TTLAttr = ""
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &UpdateTimeToLiveOutput{TimeToLiveSpecification: spec}, nil
}

// DescribeTimeToLive reports the TTL setting.
func (e *Engine) DescribeTimeToLive(_ context.Context, in *DescribeTimeToLiveInput) (*DescribeTimeToLiveOutput, error) {
	t, err := e.controlTable(in.TableName)
	if err != nil {
		return nil, err
	}
	d := TimeToLiveDescription{TimeToLiveStatus: TTLDisabled}
	if t.TTLAttr != "" {
		d = TimeToLiveDescription{TimeToLiveStatus: TTLEnabled, AttributeName: t.TTLAttr}
	}
	return &DescribeTimeToLiveOutput{TimeToLiveDescription: d}, nil
}

package dynamoapi

import (
	"context"
	"strconv"
	"time"

	"github.com/meridian-platform/meridian/internal/tables"
)

// Control-plane operations: tables, indexes and TTL.

// epoch is a timestamp as the JSON protocols send it: seconds since the Unix
// epoch, with millisecond fractions.
type epoch time.Time

func (e epoch) MarshalJSON() ([]byte, error) {
	t := time.Time(e)
	return []byte(strconv.FormatFloat(float64(t.UnixMilli())/1000, 'f', -1, 64)), nil
}

type provisionedThroughputIn struct {
	ReadCapacityUnits  *int64
	WriteCapacityUnits *int64
}

func (p *provisionedThroughputIn) check(v *violations, path string) *tables.ProvisionedThroughput {
	if p == nil {
		return nil
	}
	v.required(path+".readCapacityUnits", p.ReadCapacityUnits != nil)
	v.required(path+".writeCapacityUnits", p.WriteCapacityUnits != nil)
	v.atLeast(path+".readCapacityUnits", p.ReadCapacityUnits, 1)
	v.atLeast(path+".writeCapacityUnits", p.WriteCapacityUnits, 1)
	out := &tables.ProvisionedThroughput{}
	if p.ReadCapacityUnits != nil {
		out.ReadCapacityUnits = *p.ReadCapacityUnits
	}
	if p.WriteCapacityUnits != nil {
		out.WriteCapacityUnits = *p.WriteCapacityUnits
	}
	return out
}

type secondaryIndexIn struct {
	IndexName             string
	KeySchema             []tables.KeySchemaElement
	Projection            *tables.Projection
	ProvisionedThroughput *provisionedThroughputIn
}

func (s *secondaryIndexIn) check(v *violations, path string) tables.SecondaryIndex {
	v.name(path+".indexName", s.IndexName, 255)
	v.required(path+".keySchema", s.KeySchema != nil)
	v.required(path+".projection", s.Projection != nil)
	out := tables.SecondaryIndex{
		IndexName:             s.IndexName,
		KeySchema:             s.KeySchema,
		ProvisionedThroughput: s.ProvisionedThroughput.check(v, path+".provisionedThroughput"),
	}
	if s.Projection != nil {
		out.Projection = *s.Projection
	}
	return out
}

func indexPath(list string, i int) string { return list + "." + strconv.Itoa(i+1) + ".member" }

type createTableIn struct {
	TableName              string
	AttributeDefinitions   []tables.AttributeDefinition
	KeySchema              []tables.KeySchemaElement
	GlobalSecondaryIndexes []secondaryIndexIn
	LocalSecondaryIndexes  []secondaryIndexIn
	BillingMode            string
	ProvisionedThroughput  *provisionedThroughputIn
}

func (h *Handler) createTable(ctx context.Context, data []byte) (any, error) {
	var in createTableIn
	if err := decode(data, &in); err != nil {
		return nil, err
	}
	var v violations
	v.tableName("tableName", in.TableName)
	v.required("attributeDefinitions", in.AttributeDefinitions != nil)
	v.required("keySchema", in.KeySchema != nil)
	req := &tables.CreateTableInput{
		TableName:             in.TableName,
		AttributeDefinitions:  in.AttributeDefinitions,
		KeySchema:             in.KeySchema,
		BillingMode:           in.BillingMode,
		ProvisionedThroughput: in.ProvisionedThroughput.check(&v, "provisionedThroughput"),
	}
	for i := range in.GlobalSecondaryIndexes {
		req.GlobalSecondaryIndexes = append(req.GlobalSecondaryIndexes, in.GlobalSecondaryIndexes[i].check(&v, indexPath("globalSecondaryIndexes", i)))
	}
	for i := range in.LocalSecondaryIndexes {
		req.LocalSecondaryIndexes = append(req.LocalSecondaryIndexes, in.LocalSecondaryIndexes[i].check(&v, indexPath("localSecondaryIndexes", i)))
	}
	if err := v.err(); err != nil {
		return nil, err
	}
	out, err := h.engine.CreateTable(ctx, req)
	if err != nil {
		return nil, err
	}
	return struct {
		TableDescription *tableDescription
	}{describe(out.TableDescription)}, nil
}

type tableNameIn struct {
	TableName string
}

func (h *Handler) describeTable(ctx context.Context, data []byte) (any, error) {
	var in tableNameIn
	if err := decode(data, &in); err != nil {
		return nil, err
	}
	var v violations
	v.tableName("tableName", in.TableName)
	if err := v.err(); err != nil {
		return nil, err
	}
	out, err := h.engine.DescribeTable(ctx, &tables.DescribeTableInput{TableName: in.TableName})
	if err != nil {
		return nil, err
	}
	return struct {
		Table *tableDescription
	}{describe(out.Table)}, nil
}

func (h *Handler) deleteTable(ctx context.Context, data []byte) (any, error) {
	var in tableNameIn
	if err := decode(data, &in); err != nil {
		return nil, err
	}
	var v violations
	v.tableName("tableName", in.TableName)
	if err := v.err(); err != nil {
		return nil, err
	}
	out, err := h.engine.DeleteTable(ctx, &tables.DeleteTableInput{TableName: in.TableName})
	if err != nil {
		return nil, err
	}
	return struct {
		TableDescription *tableDescription
	}{describe(out.TableDescription)}, nil
}

type listTablesIn struct {
	ExclusiveStartTableName string
	Limit                   *int64
}

func (h *Handler) listTables(ctx context.Context, data []byte) (any, error) {
	var in listTablesIn
	if err := decode(data, &in); err != nil {
		return nil, err
	}
	var v violations
	if in.ExclusiveStartTableName != "" {
		v.tableName("exclusiveStartTableName", in.ExclusiveStartTableName)
	}
	v.atLeast("limit", in.Limit, 1)
	v.atMost("limit", in.Limit, 100)
	if err := v.err(); err != nil {
		return nil, err
	}
	req := &tables.ListTablesInput{ExclusiveStartTableName: in.ExclusiveStartTableName}
	if in.Limit != nil {
		req.Limit = int(*in.Limit)
	}
	out, err := h.engine.ListTables(ctx, req)
	if err != nil {
		return nil, err
	}
	names := out.TableNames
	if names == nil {
		names = []string{}
	}
	return struct {
		TableNames             []string
		LastEvaluatedTableName string `json:",omitempty"`
	}{names, out.LastEvaluatedTableName}, nil
}

type gsiUpdateIn struct {
	Create *secondaryIndexIn
	Delete *struct{ IndexName string }
	Update *struct {
		IndexName             string
		ProvisionedThroughput *provisionedThroughputIn
	}
}

type updateTableIn struct {
	TableName                   string
	AttributeDefinitions        []tables.AttributeDefinition
	GlobalSecondaryIndexUpdates []gsiUpdateIn
	BillingMode                 string
	ProvisionedThroughput       *provisionedThroughputIn
}

func (h *Handler) updateTable(ctx context.Context, data []byte) (any, error) {
	var in updateTableIn
	if err := decode(data, &in); err != nil {
		return nil, err
	}
	var v violations
	v.tableName("tableName", in.TableName)
	req := &tables.UpdateTableInput{
		TableName:             in.TableName,
		AttributeDefinitions:  in.AttributeDefinitions,
		BillingMode:           in.BillingMode,
		ProvisionedThroughput: in.ProvisionedThroughput.check(&v, "provisionedThroughput"),
	}
	for i, u := range in.GlobalSecondaryIndexUpdates {
		path := indexPath("globalSecondaryIndexUpdates", i)
		var out tables.GlobalSecondaryIndexUpdate
		if u.Create != nil {
			si := u.Create.check(&v, path+".create")
			out.Create = &si
		}
		if u.Delete != nil {
			v.name(path+".delete.indexName", u.Delete.IndexName, 255)
			out.Delete = &tables.DeleteGlobalSecondaryIndex{IndexName: u.Delete.IndexName}
		}
		if u.Update != nil {
			v.name(path+".update.indexName", u.Update.IndexName, 255)
			out.Update = &tables.UpdateGlobalSecondaryIndex{
				IndexName:             u.Update.IndexName,
				ProvisionedThroughput: u.Update.ProvisionedThroughput.check(&v, path+".update.provisionedThroughput"),
			}
		}
		req.GlobalSecondaryIndexUpdates = append(req.GlobalSecondaryIndexUpdates, out)
	}
	if err := v.err(); err != nil {
		return nil, err
	}
	out, err := h.engine.UpdateTable(ctx, req)
	if err != nil {
		return nil, err
	}
	return struct {
		TableDescription *tableDescription
	}{describe(out.TableDescription)}, nil
}

type updateTimeToLiveIn struct {
	TableName               string
	TimeToLiveSpecification *struct {
		Enabled       *bool
		AttributeName string
	}
}

type ttlSpecification struct {
	Enabled       bool
	AttributeName string
}

func (h *Handler) updateTimeToLive(ctx context.Context, data []byte) (any, error) {
	var in updateTimeToLiveIn
	if err := decode(data, &in); err != nil {
		return nil, err
	}
	var v violations
	v.tableName("tableName", in.TableName)
	v.required("timeToLiveSpecification", in.TimeToLiveSpecification != nil)
	req := &tables.UpdateTimeToLiveInput{TableName: in.TableName}
	if s := in.TimeToLiveSpecification; s != nil {
		v.required("timeToLiveSpecification.enabled", s.Enabled != nil)
		if s.AttributeName == "" {
			v.null("timeToLiveSpecification.attributeName")
		}
		req.TimeToLiveSpecification.AttributeName = s.AttributeName
		if s.Enabled != nil {
			req.TimeToLiveSpecification.Enabled = *s.Enabled
		}
	}
	if err := v.err(); err != nil {
		return nil, err
	}
	out, err := h.engine.UpdateTimeToLive(ctx, req)
	if err != nil {
		return nil, err
	}
	return struct {
		TimeToLiveSpecification ttlSpecification
	}{ttlSpecification(out.TimeToLiveSpecification)}, nil
}

func (h *Handler) describeTimeToLive(ctx context.Context, data []byte) (any, error) {
	var in tableNameIn
	if err := decode(data, &in); err != nil {
		return nil, err
	}
	var v violations
	v.tableName("tableName", in.TableName)
	if err := v.err(); err != nil {
		return nil, err
	}
	out, err := h.engine.DescribeTimeToLive(ctx, &tables.DescribeTimeToLiveInput{TableName: in.TableName})
	if err != nil {
		return nil, err
	}
	type description struct {
		TimeToLiveStatus string
		AttributeName    string `json:",omitempty"`
	}
	return struct {
		TimeToLiveDescription description
	}{description(out.TimeToLiveDescription)}, nil
}

// Response shapes.

type provisionedThroughputOut struct {
	NumberOfDecreasesToday int64
	ReadCapacityUnits      int64
	WriteCapacityUnits     int64
}

func throughput(p *tables.ProvisionedThroughput) *provisionedThroughputOut {
	out := &provisionedThroughputOut{}
	if p != nil {
		out.ReadCapacityUnits, out.WriteCapacityUnits = p.ReadCapacityUnits, p.WriteCapacityUnits
	}
	return out
}

type projectionOut struct {
	ProjectionType   string
	NonKeyAttributes []string `json:",omitempty"`
}

type indexDescription struct {
	IndexName             string
	IndexArn              string `json:",omitempty"`
	KeySchema             []tables.KeySchemaElement
	Projection            projectionOut
	IndexStatus           string                    `json:",omitempty"`
	Backfilling           *bool                     `json:",omitempty"`
	ProvisionedThroughput *provisionedThroughputOut `json:",omitempty"`
	IndexSizeBytes        int64
	ItemCount             int64
}

type tableDescription struct {
	TableName              string
	TableID                string `json:"TableId,omitempty"`
	TableArn               string `json:",omitempty"`
	TableStatus            string
	CreationDateTime       epoch
	KeySchema              []tables.KeySchemaElement
	AttributeDefinitions   []tables.AttributeDefinition
	BillingModeSummary     *billingModeSummary `json:",omitempty"`
	ProvisionedThroughput  *provisionedThroughputOut
	ItemCount              int64
	TableSizeBytes         int64
	GlobalSecondaryIndexes []indexDescription   `json:",omitempty"`
	LocalSecondaryIndexes  []indexDescription   `json:",omitempty"`
	GlobalTableVersion     string               `json:",omitempty"`
	Replicas               []replicaDescription `json:",omitempty"`
}

type billingModeSummary struct {
	BillingMode string
}

type replicaDescription struct {
	RegionName    string
	ReplicaStatus string
}

// globalTableVersion is the version DynamoDB reports for global tables
// whose replicas are managed through the table itself.
const globalTableVersion = "2019.11.21"

func describe(d *tables.TableDescription) *tableDescription {
	if d == nil {
		return nil
	}
	out := &tableDescription{
		TableName:             d.TableName,
		TableID:               d.TableID,
		TableArn:              d.TableArn,
		TableStatus:           d.TableStatus,
		CreationDateTime:      epoch(d.CreationDateTime),
		KeySchema:             d.KeySchema,
		AttributeDefinitions:  d.AttributeDefinitions,
		ProvisionedThroughput: throughput(d.ProvisionedThroughput),
		ItemCount:             d.ItemCount,
		TableSizeBytes:        d.TableSizeBytes,
	}
	if d.BillingMode != "" {
		out.BillingModeSummary = &billingModeSummary{BillingMode: d.BillingMode}
	}
	for _, ix := range d.GlobalSecondaryIndexes {
		out.GlobalSecondaryIndexes = append(out.GlobalSecondaryIndexes, index(ix, true))
	}
	for _, ix := range d.LocalSecondaryIndexes {
		out.LocalSecondaryIndexes = append(out.LocalSecondaryIndexes, index(ix, false))
	}
	for _, r := range d.Replicas {
		out.Replicas = append(out.Replicas, replicaDescription(r))
	}
	if len(out.Replicas) > 0 {
		out.GlobalTableVersion = globalTableVersion
	}
	return out
}

func index(ix tables.IndexDescription, global bool) indexDescription {
	out := indexDescription{
		IndexName:      ix.IndexName,
		IndexArn:       ix.IndexArn,
		KeySchema:      ix.KeySchema,
		Projection:     projectionOut(ix.Projection),
		IndexSizeBytes: ix.IndexSizeBytes,
		ItemCount:      ix.ItemCount,
	}
	if global {
		out.IndexStatus = ix.IndexStatus
		backfilling := ix.Backfilling
		out.Backfilling = &backfilling
		out.ProvisionedThroughput = throughput(ix.ProvisionedThroughput)
	}
	return out
}

package dynamoapi

import (
	"context"
	"encoding/json"
	"sort"
	"strconv"

	"github.com/meridian-platform/meridian/internal/tables"
	"github.com/meridian-platform/meridian/internal/tables/attr"
	"github.com/meridian-platform/meridian/internal/tables/expr"
)

// Data-plane operations. Each request's expressions are parsed against one
// expr.Env (one per action of a batch or transaction, whose actions carry
// their own names and values), and CheckUnused runs after all of them.

// ignored are members DynamoDB accepts that change nothing here: Meridian
// reports no consumed capacity or item collection metrics.
type ignored struct {
	ReturnConsumedCapacity      json.RawMessage
	ReturnItemCollectionMetrics json.RawMessage
}

// attributesOut is the response of the single-item writes. omitzero keeps an
// empty item (all attributes projected away) apart from no item.
type attributesOut struct {
	Attributes attr.Item `json:",omitzero"`
}

type putItemIn struct {
	TableName                           string
	Item                                attr.Item
	ConditionExpression                 *string
	ReturnValues                        string
	ReturnValuesOnConditionCheckFailure string
	exprParams
	legacy
	ignored
}

func (h *Handler) putItem(ctx context.Context, data []byte) (any, error) {
	var in putItemIn
	if err := decode(data, &in); err != nil {
		return nil, err
	}
	if err := in.legacy.check(); err != nil {
		return nil, err
	}
	var v violations
	v.tableName("tableName", in.TableName)
	v.required("item", in.Item != nil)
	if err := v.err(); err != nil {
		return nil, err
	}
	env, err := in.env(in.ConditionExpression != nil)
	if err != nil {
		return nil, err
	}
	cond, err := condition(env, in.ConditionExpression)
	if err != nil {
		return nil, err
	}
	if err := env.CheckUnused(); err != nil {
		return nil, err
	}
	out, err := h.engine.PutItem(ctx, &tables.PutItemInput{
		TableName: in.TableName, Item: in.Item, Condition: cond,
		ReturnValues: in.ReturnValues, ReturnValuesOnConditionCheckFailure: in.ReturnValuesOnConditionCheckFailure,
	})
	if err != nil {
		return nil, err
	}
	return attributesOut{out.Attributes}, nil
}

type getItemIn struct {
	TableName            string
	Key                  attr.Item
	ProjectionExpression *string
	ConsistentRead       bool
	exprParams
	legacy
	ignored
}

func (h *Handler) getItem(ctx context.Context, data []byte) (any, error) {
	var in getItemIn
	if err := decode(data, &in); err != nil {
		return nil, err
	}
	if err := in.legacy.check(); err != nil {
		return nil, err
	}
	var v violations
	v.tableName("tableName", in.TableName)
	v.required("key", in.Key != nil)
	if err := v.err(); err != nil {
		return nil, err
	}
	env, err := in.env(in.ProjectionExpression != nil)
	if err != nil {
		return nil, err
	}
	proj, err := projection(env, in.ProjectionExpression)
	if err != nil {
		return nil, err
	}
	if err := env.CheckUnused(); err != nil {
		return nil, err
	}
	out, err := h.engine.GetItem(ctx, &tables.GetItemInput{
		TableName: in.TableName, Key: in.Key, Projection: proj, ConsistentRead: in.ConsistentRead,
	})
	if err != nil {
		return nil, err
	}
	return struct {
		Item attr.Item `json:",omitzero"`
	}{out.Item}, nil
}

type updateItemIn struct {
	TableName                           string
	Key                                 attr.Item
	UpdateExpression                    *string
	ConditionExpression                 *string
	ReturnValues                        string
	ReturnValuesOnConditionCheckFailure string
	exprParams
	legacy
	ignored
}

func (h *Handler) updateItem(ctx context.Context, data []byte) (any, error) {
	var in updateItemIn
	if err := decode(data, &in); err != nil {
		return nil, err
	}
	if err := in.legacy.check(); err != nil {
		return nil, err
	}
	var v violations
	v.tableName("tableName", in.TableName)
	v.required("key", in.Key != nil)
	if err := v.err(); err != nil {
		return nil, err
	}
	env, err := in.env(in.UpdateExpression != nil || in.ConditionExpression != nil)
	if err != nil {
		return nil, err
	}
	var upd *expr.Update
	if in.UpdateExpression != nil {
		if upd, err = env.ParseUpdate(*in.UpdateExpression); err != nil {
			return nil, err
		}
	}
	cond, err := condition(env, in.ConditionExpression)
	if err != nil {
		return nil, err
	}
	if err := env.CheckUnused(); err != nil {
		return nil, err
	}
	out, err := h.engine.UpdateItem(ctx, &tables.UpdateItemInput{
		TableName: in.TableName, Key: in.Key, Update: upd, Condition: cond,
		ReturnValues: in.ReturnValues, ReturnValuesOnConditionCheckFailure: in.ReturnValuesOnConditionCheckFailure,
	})
	if err != nil {
		return nil, err
	}
	return attributesOut{out.Attributes}, nil
}

type deleteItemIn struct {
	TableName                           string
	Key                                 attr.Item
	ConditionExpression                 *string
	ReturnValues                        string
	ReturnValuesOnConditionCheckFailure string
	exprParams
	legacy
	ignored
}

func (h *Handler) deleteItem(ctx context.Context, data []byte) (any, error) {
	var in deleteItemIn
	if err := decode(data, &in); err != nil {
		return nil, err
	}
	if err := in.legacy.check(); err != nil {
		return nil, err
	}
	var v violations
	v.tableName("tableName", in.TableName)
	v.required("key", in.Key != nil)
	if err := v.err(); err != nil {
		return nil, err
	}
	env, err := in.env(in.ConditionExpression != nil)
	if err != nil {
		return nil, err
	}
	cond, err := condition(env, in.ConditionExpression)
	if err != nil {
		return nil, err
	}
	if err := env.CheckUnused(); err != nil {
		return nil, err
	}
	out, err := h.engine.DeleteItem(ctx, &tables.DeleteItemInput{
		TableName: in.TableName, Key: in.Key, Condition: cond,
		ReturnValues: in.ReturnValues, ReturnValuesOnConditionCheckFailure: in.ReturnValuesOnConditionCheckFailure,
	})
	if err != nil {
		return nil, err
	}
	return attributesOut{out.Attributes}, nil
}

// readIn is what Query and Scan share.
type readIn struct {
	TableName            string
	IndexName            string
	FilterExpression     *string
	ProjectionExpression *string
	Select               string
	Limit                *int64
	ExclusiveStartKey    attr.Item
	ConsistentRead       bool
	exprParams
	legacy
	ignored
}

func (in *readIn) check(v *violations) {
	v.tableName("tableName", in.TableName)
	if in.IndexName != "" {
		v.name("indexName", in.IndexName, 255)
	}
	v.atLeast("limit", in.Limit, 1)
}

func (in *readIn) limit() int {
	if in.Limit == nil {
		return 0
	}
	return int(min(*in.Limit, 1<<31-1))
}

type queryIn struct {
	readIn
	KeyConditionExpression *string
	ScanIndexForward       *bool
}

// readOut is the Query and Scan response: Items is absent for Select COUNT
// and [] when nothing matched.
type readOut struct {
	Items            []attr.Item `json:",omitzero"`
	Count            int
	ScannedCount     int
	LastEvaluatedKey attr.Item `json:",omitempty"`
}

func readResult(out *tables.QueryOutput, sel string) readOut {
	items := out.Items
	if items == nil && sel != tables.SelectCount {
		items = []attr.Item{}
	}
	return readOut{Items: items, Count: out.Count, ScannedCount: out.ScannedCount, LastEvaluatedKey: out.LastEvaluatedKey}
}

func (h *Handler) query(ctx context.Context, data []byte) (any, error) {
	var in queryIn
	if err := decode(data, &in); err != nil {
		return nil, err
	}
	if err := in.legacy.check(); err != nil {
		return nil, err
	}
	var v violations
	in.check(&v)
	if err := v.err(); err != nil {
		return nil, err
	}
	if in.KeyConditionExpression == nil {
		return nil, validationf("Either the KeyConditions or KeyConditionExpression parameter must be specified in the request.")
	}
	env, err := in.env(true)
	if err != nil {
		return nil, err
	}
	schema, err := h.engine.KeySchema(in.TableName, in.IndexName)
	if err != nil {
		return nil, err
	}
	kc, err := env.ParseKeyCondition(*in.KeyConditionExpression, schema)
	if err != nil {
		return nil, err
	}
	flt, err := filter(env, in.FilterExpression)
	if err != nil {
		return nil, err
	}
	proj, err := projection(env, in.ProjectionExpression)
	if err != nil {
		return nil, err
	}
	if err := env.CheckUnused(); err != nil {
		return nil, err
	}
	out, err := h.engine.Query(ctx, &tables.QueryInput{
		TableName: in.TableName, IndexName: in.IndexName, KeyCondition: kc, Filter: flt, Projection: proj,
		Select: in.Select, ScanIndexForward: in.ScanIndexForward, Limit: in.limit(),
		ExclusiveStartKey: in.ExclusiveStartKey, ConsistentRead: in.ConsistentRead,
	})
	if err != nil {
		return nil, err
	}
	return readResult(out, in.Select), nil
}

type scanIn struct {
	readIn
	Segment       *int64
	TotalSegments *int64
}

func (h *Handler) scan(ctx context.Context, data []byte) (any, error) {
	var in scanIn
	if err := decode(data, &in); err != nil {
		return nil, err
	}
	if err := in.legacy.check(); err != nil {
		return nil, err
	}
	var v violations
	in.check(&v)
	v.atLeast("segment", in.Segment, 0)
	v.atMost("segment", in.Segment, 999999)
	v.atLeast("totalSegments", in.TotalSegments, 1)
	v.atMost("totalSegments", in.TotalSegments, 1000000)
	if err := v.err(); err != nil {
		return nil, err
	}
	req := &tables.ScanInput{
		TableName: in.TableName, IndexName: in.IndexName, Select: in.Select, Limit: in.limit(),
		ExclusiveStartKey: in.ExclusiveStartKey, ConsistentRead: in.ConsistentRead,
	}
	switch {
	case in.Segment != nil && in.TotalSegments == nil:
		return nil, validationf("The TotalSegments parameter is required but was not present in the request when Segment parameter is present")
	case in.Segment == nil && in.TotalSegments != nil:
		return nil, validationf("The Segment parameter is required but was not present in the request when parameter TotalSegments is present")
	case in.Segment != nil:
		if *in.Segment >= *in.TotalSegments {
			return nil, validationf("The Segment parameter is zero-based and must be less than parameter TotalSegments: Segment: %d is not less than TotalSegments: %d", *in.Segment, *in.TotalSegments)
		}
		req.Segment, req.TotalSegments = int(*in.Segment), int(*in.TotalSegments)
	}
	env, err := in.env(in.FilterExpression != nil || in.ProjectionExpression != nil)
	if err != nil {
		return nil, err
	}
	if req.Filter, err = filter(env, in.FilterExpression); err != nil {
		return nil, err
	}
	if req.Projection, err = projection(env, in.ProjectionExpression); err != nil {
		return nil, err
	}
	if err := env.CheckUnused(); err != nil {
		return nil, err
	}
	out, err := h.engine.Scan(ctx, req)
	if err != nil {
		return nil, err
	}
	return readResult(out, in.Select), nil
}

type keysAndAttributesIn struct {
	Keys                     []attr.Item
	ProjectionExpression     *string
	ExpressionAttributeNames map[string]string
	ConsistentRead           bool
	AttributesToGet          json.RawMessage
}

type keysAndAttributesOut struct {
	Keys                     []attr.Item
	ProjectionExpression     string            `json:",omitempty"`
	ExpressionAttributeNames map[string]string `json:",omitempty"`
	ConsistentRead           bool              `json:",omitempty"`
}

type batchGetItemIn struct {
	RequestItems map[string]keysAndAttributesIn
	ignored
}

func (h *Handler) batchGetItem(ctx context.Context, data []byte) (any, error) {
	var in batchGetItemIn
	if err := decode(data, &in); err != nil {
		return nil, err
	}
	var v violations
	v.required("requestItems", in.RequestItems != nil)
	names := sortedKeys(in.RequestItems)
	for _, name := range names {
		v.tableName("requestItems.key", name)
		ka := in.RequestItems[name]
		v.required("requestItems."+name+".member.keys", ka.Keys != nil)
	}
	if err := v.err(); err != nil {
		return nil, err
	}
	req := &tables.BatchGetItemInput{RequestItems: make(map[string]tables.KeysAndAttributes, len(in.RequestItems))}
	for _, name := range names {
		ka := in.RequestItems[name]
		if err := (&legacy{AttributesToGet: ka.AttributesToGet}).check(); err != nil {
			return nil, err
		}
		p := exprParams{ExpressionAttributeNames: ka.ExpressionAttributeNames}
		env, err := p.env(ka.ProjectionExpression != nil)
		if err != nil {
			return nil, err
		}
		proj, err := projection(env, ka.ProjectionExpression)
		if err != nil {
			return nil, err
		}
		if err := env.CheckUnused(); err != nil {
			return nil, err
		}
		req.RequestItems[name] = tables.KeysAndAttributes{Keys: ka.Keys, Projection: proj, ConsistentRead: ka.ConsistentRead}
	}
	out, err := h.engine.BatchGetItem(ctx, req)
	if err != nil {
		return nil, err
	}
	resp := struct {
		Responses       map[string][]attr.Item
		UnprocessedKeys map[string]keysAndAttributesOut
	}{Responses: map[string][]attr.Item{}, UnprocessedKeys: map[string]keysAndAttributesOut{}}
	for _, name := range names {
		items := out.Responses[name]
		if items == nil {
			items = []attr.Item{}
		}
		resp.Responses[name] = items
	}
	for name, ka := range out.UnprocessedKeys {
		orig := in.RequestItems[name]
		o := keysAndAttributesOut{Keys: ka.Keys, ExpressionAttributeNames: orig.ExpressionAttributeNames, ConsistentRead: ka.ConsistentRead}
		if orig.ProjectionExpression != nil {
			o.ProjectionExpression = *orig.ProjectionExpression
		}
		resp.UnprocessedKeys[name] = o
	}
	return resp, nil
}

type writeRequestIn struct {
	PutRequest *struct {
		Item attr.Item
	}
	DeleteRequest *struct {
		Key attr.Item
	}
}

type writeRequestOut struct {
	PutRequest *struct {
		Item attr.Item
	} `json:",omitempty"`
	DeleteRequest *struct {
		Key attr.Item
	} `json:",omitempty"`
}

type batchWriteItemIn struct {
	RequestItems map[string][]writeRequestIn
	ignored
}

func (h *Handler) batchWriteItem(ctx context.Context, data []byte) (any, error) {
	var in batchWriteItemIn
	if err := decode(data, &in); err != nil {
		return nil, err
	}
	var v violations
	v.required("requestItems", in.RequestItems != nil)
	names := sortedKeys(in.RequestItems)
	req := &tables.BatchWriteItemInput{RequestItems: make(map[string][]tables.WriteRequest, len(in.RequestItems))}
	for _, name := range names {
		v.tableName("requestItems.key", name)
		for i, wr := range in.RequestItems[name] {
			path := "requestItems." + name + ".member." + strconv.Itoa(i+1) + ".member"
			var out tables.WriteRequest
			switch {
			case wr.PutRequest != nil && wr.DeleteRequest != nil:
				return nil, validationf("Supplied AttributeValue has more than one datatypes set, must contain exactly one of the supported datatypes")
			case wr.PutRequest != nil:
				v.required(path+".putRequest.item", wr.PutRequest.Item != nil)
				out.PutItem = wr.PutRequest.Item
			case wr.DeleteRequest != nil:
				v.required(path+".deleteRequest.key", wr.DeleteRequest.Key != nil)
				out.DeleteKey = wr.DeleteRequest.Key
			default:
				return nil, validationf("1 validation error detected: Value null at '%s' failed to satisfy constraint: Member must have either a PutRequest or a DeleteRequest", path)
			}
			req.RequestItems[name] = append(req.RequestItems[name], out)
		}
	}
	if err := v.err(); err != nil {
		return nil, err
	}
	out, err := h.engine.BatchWriteItem(ctx, req)
	if err != nil {
		return nil, err
	}
	unprocessed := map[string][]writeRequestOut{}
	for name, wrs := range out.UnprocessedItems {
		for _, wr := range wrs {
			var o writeRequestOut
			if wr.PutItem != nil {
				o.PutRequest = &struct{ Item attr.Item }{wr.PutItem}
			} else {
				o.DeleteRequest = &struct{ Key attr.Item }{wr.DeleteKey}
			}
			unprocessed[name] = append(unprocessed[name], o)
		}
	}
	return struct {
		UnprocessedItems map[string][]writeRequestOut
	}{unprocessed}, nil
}

// transactActionIn is any action of TransactWriteItems or TransactGetItems.
type transactActionIn struct {
	TableName                           string
	Key                                 attr.Item
	Item                                attr.Item
	ConditionExpression                 *string
	UpdateExpression                    *string
	ProjectionExpression                *string
	ReturnValuesOnConditionCheckFailure string
	exprParams
	legacy
}

type transactWriteItemIn struct {
	ConditionCheck *transactActionIn
	Put            *transactActionIn
	Delete         *transactActionIn
	Update         *transactActionIn
}

type transactWriteItemsIn struct {
	TransactItems      []transactWriteItemIn
	ClientRequestToken string
	ignored
}

func (h *Handler) transactWriteItems(ctx context.Context, data []byte) (any, error) {
	var in transactWriteItemsIn
	if err := decode(data, &in); err != nil {
		return nil, err
	}
	var v violations
	v.required("transactItems", in.TransactItems != nil)
	if err := v.err(); err != nil {
		return nil, err
	}
	req := &tables.TransactWriteItemsInput{ClientRequestToken: in.ClientRequestToken}
	for i, ti := range in.TransactItems {
		path := "transactItems." + strconv.Itoa(i+1) + ".member"
		var (
			out   tables.TransactWriteItem
			a     *transactActionIn
			count int
		)
		for _, c := range []*transactActionIn{ti.ConditionCheck, ti.Put, ti.Delete, ti.Update} {
			if c != nil {
				a = c
				count++
			}
		}
		if count != 1 {
			return nil, validationf("TransactItems can only contain one of Check, Put, Update or Delete")
		}
		if err := a.legacy.check(); err != nil {
			return nil, err
		}
		v.tableName(path+".tableName", a.TableName)
		env, err := a.env(a.ConditionExpression != nil || a.UpdateExpression != nil)
		if err != nil {
			return nil, err
		}
		cond, err := condition(env, a.ConditionExpression)
		if err != nil {
			return nil, err
		}
		rv := a.ReturnValuesOnConditionCheckFailure
		switch a {
		case ti.ConditionCheck:
			v.required(path+".conditionCheck.key", a.Key != nil)
			v.required(path+".conditionCheck.conditionExpression", a.ConditionExpression != nil)
			out.ConditionCheck = &tables.TransactConditionCheck{TableName: a.TableName, Key: a.Key, Condition: cond, ReturnValuesOnConditionCheckFailure: rv}
		case ti.Put:
			v.required(path+".put.item", a.Item != nil)
			out.Put = &tables.TransactPut{TableName: a.TableName, Item: a.Item, Condition: cond, ReturnValuesOnConditionCheckFailure: rv}
		case ti.Delete:
			v.required(path+".delete.key", a.Key != nil)
			out.Delete = &tables.TransactDelete{TableName: a.TableName, Key: a.Key, Condition: cond, ReturnValuesOnConditionCheckFailure: rv}
		case ti.Update:
			v.required(path+".update.key", a.Key != nil)
			v.required(path+".update.updateExpression", a.UpdateExpression != nil)
			var upd *expr.Update
			if a.UpdateExpression != nil {
				if upd, err = env.ParseUpdate(*a.UpdateExpression); err != nil {
					return nil, err
				}
			}
			out.Update = &tables.TransactUpdate{TableName: a.TableName, Key: a.Key, Update: upd, Condition: cond, ReturnValuesOnConditionCheckFailure: rv}
		}
		if err := env.CheckUnused(); err != nil {
			return nil, err
		}
		req.TransactItems = append(req.TransactItems, out)
	}
	if err := v.err(); err != nil {
		return nil, err
	}
	if _, err := h.engine.TransactWriteItems(ctx, req); err != nil {
		return nil, err
	}
	return struct{}{}, nil
}

type transactGetItemsIn struct {
	TransactItems []struct {
		Get *transactActionIn
	}
	ignored
}

func (h *Handler) transactGetItems(ctx context.Context, data []byte) (any, error) {
	var in transactGetItemsIn
	if err := decode(data, &in); err != nil {
		return nil, err
	}
	var v violations
	v.required("transactItems", in.TransactItems != nil)
	req := &tables.TransactGetItemsInput{}
	for i, ti := range in.TransactItems {
		path := "transactItems." + strconv.Itoa(i+1) + ".member.get"
		g := ti.Get
		if g == nil {
			v.null(path)
			continue
		}
		v.tableName(path+".tableName", g.TableName)
		v.required(path+".key", g.Key != nil)
		env, err := g.env(g.ProjectionExpression != nil)
		if err != nil {
			return nil, err
		}
		proj, err := projection(env, g.ProjectionExpression)
		if err != nil {
			return nil, err
		}
		if err := env.CheckUnused(); err != nil {
			return nil, err
		}
		req.TransactItems = append(req.TransactItems, tables.TransactGetItem{TableName: g.TableName, Key: g.Key, Projection: proj})
	}
	if err := v.err(); err != nil {
		return nil, err
	}
	out, err := h.engine.TransactGetItems(ctx, req)
	if err != nil {
		return nil, err
	}
	type response struct {
		Item attr.Item `json:",omitzero"`
	}
	resp := make([]response, len(out.Responses))
	for i, it := range out.Responses {
		resp[i].Item = it
	}
	return struct {
		Responses []response
	}{resp}, nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

package tables

import (
	"context"
	"sort"
	"strings"

	"github.com/meridian-platform/meridian/internal/store"
	"github.com/meridian-platform/meridian/internal/tables/attr"
	"github.com/meridian-platform/meridian/internal/tables/expr"
)

// DynamoDB's batch and transaction limits.
const (
	maxBatchGet      = 100
	maxBatchWrite    = 25
	maxTransactItems = 100
	maxBatchGetBytes = 16 << 20
)

func sortedTables[V any](m map[string]V) []string {
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func keyID(k store.Key) string {
	return k.Space + "\x00" + string(k.Hash) + "\x00" + string(k.Range)
}

// BatchGetItem reads up to 100 items from one or more tables. Items that
// would take the response past 16 MB come back in UnprocessedKeys.
func (e *Engine) BatchGetItem(_ context.Context, in *BatchGetItemInput) (*BatchGetItemOutput, error) {
	if len(in.RequestItems) == 0 {
		return nil, validationf("1 validation error detected: Value '{}' at 'requestItems' failed to satisfy constraint: Member must have length greater than or equal to 1")
	}
	type want struct {
		t    *tableMeta
		keys []store.Key
	}
	wants := map[string]want{}
	total := 0
	for _, name := range sortedTables(in.RequestItems) {
		ka := in.RequestItems[name]
		if len(ka.Keys) == 0 {
			return nil, validationf("1 validation error detected: Value '[]' at 'requestItems.%s.member.keys' failed to satisfy constraint: Member must have length greater than or equal to 1", name)
		}
		total += len(ka.Keys)
		if total > maxBatchGet {
			return nil, validationf("Too many items requested for the BatchGetItem call")
		}
		t, err := e.table(name)
		if err != nil {
			return nil, err
		}
		seen := map[string]bool{}
		w := want{t: t}
		for _, ki := range ka.Keys {
			k, err := t.keyFromKey(ki)
			if err != nil {
				return nil, err
			}
			if seen[keyID(k)] {
				return nil, validationf("Provided list of item keys contains duplicates")
			}
			seen[keyID(k)] = true
			w.keys = append(w.keys, k)
		}
		wants[name] = w
	}
	out := &BatchGetItemOutput{Responses: map[string][]attr.Item{}, UnprocessedKeys: map[string]KeysAndAttributes{}}
	size := 0
	for _, name := range sortedTables(in.RequestItems) {
		w, ka := wants[name], in.RequestItems[name]
		out.Responses[name] = []attr.Item{}
		for i, k := range w.keys {
			if size >= maxBatchGetBytes {
				left := out.UnprocessedKeys[name]
				left.Keys = append(left.Keys, ka.Keys[i])
				left.Projection, left.ConsistentRead = ka.Projection, ka.ConsistentRead
				out.UnprocessedKeys[name] = left
				continue
			}
			item, err := e.get(w.t, k)
			if err != nil {
				return nil, err
			}
			if item == nil {
				continue
			}
			if ka.Projection != nil {
				item = expr.Project(ka.Projection, item)
			}
			size += attr.Size(item)
			out.Responses[name] = append(out.Responses[name], item)
		}
	}
	return out, nil
}

// BatchWriteItem puts and deletes up to 25 items. Meridian applies the
// whole batch atomically in one store write (DynamoDB promises less), so
// UnprocessedItems is always empty.
func (e *Engine) BatchWriteItem(ctx context.Context, in *BatchWriteItemInput) (*BatchWriteItemOutput, error) {
	if len(in.RequestItems) == 0 {
		return nil, validationf("1 validation error detected: Value '{}' at 'requestItems' failed to satisfy constraint: Member must have length greater than or equal to 1")
	}
	var ops []*writeOp
	seen := map[string]bool{}
	total := 0
	for _, name := range sortedTables(in.RequestItems) {
		reqs := in.RequestItems[name]
		if len(reqs) == 0 {
			return nil, validationf("1 validation error detected: Value '[]' at 'requestItems.%s.member' failed to satisfy constraint: Member must have length greater than or equal to 1", name)
		}
		total += len(reqs)
		if total > maxBatchWrite {
			return nil, validationf("Too many items requested for the BatchWriteItem call")
		}
		t, err := e.table(name)
		if err != nil {
			return nil, err
		}
		for _, r := range reqs {
			var op *writeOp
			switch {
			case (r.PutItem == nil) == (r.DeleteKey == nil):
				return nil, validationf("Supplied WriteRequest must contain exactly one of PutRequest or DeleteRequest")
			case r.PutItem != nil:
				op, err = newPut(t, r.PutItem, nil, "")
			default:
				op, err = newKeyOp(t, opDelete, r.DeleteKey, nil, nil, "")
			}
			if err != nil {
				return nil, err
			}
			if seen[keyID(op.key)] {
				return nil, validationf("Provided list of item keys contains duplicates")
			}
			seen[keyID(op.key)] = true
			ops = append(ops, op)
		}
	}
	if err := e.runAll(ctx, ops, nil); err != nil {
		return nil, err
	}
	return &BatchWriteItemOutput{UnprocessedItems: map[string][]WriteRequest{}}, nil
}

// runAll applies ops in one store.Update: one atomic, replicated record.
// When an op fails, onFail (if not nil) decides the error: it gets each op's
// error (nil for ops that passed); otherwise the first error is returned.
func (e *Engine) runAll(ctx context.Context, ops []*writeOp, onFail func(errs []error) error) error {
	keys := make([]store.Key, len(ops))
	for i, op := range ops {
		keys[i] = op.key
	}
	_, err := e.st.Update(ctx, keys, func(states []*store.State) ([]store.Mutation, error) {
		var muts []store.Mutation
		errs := make([]error, len(ops))
		failed := false
		for i, op := range ops {
			m, err := op.apply(states[i])
			if err != nil {
				if onFail == nil {
					return nil, err
				}
				errs[i], failed = err, true
				continue
			}
			if m != nil {
				muts = append(muts, *m)
			}
		}
		if failed {
			return nil, onFail(errs)
		}
		return muts, nil
	})
	return asError(err)
}

// TransactWriteItems applies up to 100 actions on distinct items
// atomically: every condition is checked and every write made in one
// store.Update, which commits as one replicated record, or nothing is
// written and the error is a TransactionCanceledException with one reason
// per action.
func (e *Engine) TransactWriteItems(ctx context.Context, in *TransactWriteItemsInput) (*TransactWriteItemsOutput, error) {
	if err := checkTransactCount(len(in.TransactItems)); err != nil {
		return nil, err
	}
	ops := make([]*writeOp, len(in.TransactItems))
	seen := map[string]bool{}
	for i, it := range in.TransactItems {
		n := 0
		for _, set := range []bool{it.ConditionCheck != nil, it.Put != nil, it.Delete != nil, it.Update != nil} {
			if set {
				n++
			}
		}
		if n != 1 {
			return nil, validationf("TransactItems can only contain one of Check, Put, Update or Delete")
		}
		var (
			op  *writeOp
			err error
			t   *tableMeta
		)
		switch {
		case it.ConditionCheck != nil:
			c := it.ConditionCheck
			if c.Condition == nil {
				return nil, validationf("The ConditionExpression parameter is required for ConditionCheck")
			}
			if t, err = e.table(c.TableName); err == nil {
				op, err = newKeyOp(t, opCheck, c.Key, nil, c.Condition, c.ReturnValuesOnConditionCheckFailure)
			}
		case it.Put != nil:
			p := it.Put
			if t, err = e.table(p.TableName); err == nil {
				op, err = newPut(t, p.Item, p.Condition, p.ReturnValuesOnConditionCheckFailure)
			}
		case it.Delete != nil:
			d := it.Delete
			if t, err = e.table(d.TableName); err == nil {
				op, err = newKeyOp(t, opDelete, d.Key, nil, d.Condition, d.ReturnValuesOnConditionCheckFailure)
			}
		default:
			u := it.Update
			if u.Update == nil {
				return nil, validationf("The UpdateExpression parameter is required for Update")
			}
			if t, err = e.table(u.TableName); err == nil {
				op, err = newKeyOp(t, opUpdate, u.Key, u.Update, u.Condition, u.ReturnValuesOnConditionCheckFailure)
			}
		}
		if err != nil {
			return nil, err
		}
		if seen[keyID(op.key)] {
			return nil, validationf("Transaction request cannot include multiple operations on one item")
		}
		seen[keyID(op.key)] = true
		ops[i] = op
	}
	err := e.runAll(ctx, ops, func(errs []error) error {
		reasons := make([]CancellationReason, len(errs))
		codes := make([]string, len(errs))
		for i, err := range errs {
			r := CancellationReason{Code: ReasonNone}
			if err != nil {
				ae, _ := asError(err).(*Error) //nolint:errorlint // asError unwraps: it returns a bare *Error
				switch ae.Code {
				case CodeConditionalCheckFailed:
					r = CancellationReason{Code: ReasonConditionalCheckFailed, Message: ae.Message, Item: ae.Item}
				case CodeValidation:
					r = CancellationReason{Code: ReasonValidation, Message: ae.Message}
				default:
					return ae
				}
			}
			reasons[i], codes[i] = r, r.Code
		}
		return &Error{Code: CodeTransactionCanceled, Message: msgTransactionCanceled + " [" + strings.Join(codes, ", ") + "]", CancellationReasons: reasons}
	})
	if err != nil {
		return nil, err
	}
	return &TransactWriteItemsOutput{}, nil
}

func checkTransactCount(n int) error {
	switch {
	case n == 0:
		return validationf("1 validation error detected: Value '[]' at 'transactItems' failed to satisfy constraint: Member must have length greater than or equal to 1")
	case n > maxTransactItems:
		return validationf("1 validation error detected: Value at 'transactItems' failed to satisfy constraint: Member must have length less than or equal to %d", maxTransactItems)
	}
	return nil
}

// TransactGetItems reads up to 100 distinct items as of one moment: all are
// read together on the store's commit goroutine, between writes.
func (e *Engine) TransactGetItems(ctx context.Context, in *TransactGetItemsInput) (*TransactGetItemsOutput, error) {
	if err := checkTransactCount(len(in.TransactItems)); err != nil {
		return nil, err
	}
	tables := make([]*tableMeta, len(in.TransactItems))
	keys := make([]store.Key, len(in.TransactItems))
	seen := map[string]bool{}
	for i, g := range in.TransactItems {
		t, err := e.table(g.TableName)
		if err != nil {
			return nil, err
		}
		k, err := t.keyFromKey(g.Key)
		if err != nil {
			return nil, err
		}
		if seen[keyID(k)] {
			return nil, validationf("Transaction request cannot include multiple operations on one item")
		}
		seen[keyID(k)] = true
		tables[i], keys[i] = t, k
	}
	out := &TransactGetItemsOutput{Responses: make([]attr.Item, len(keys))}
	_, err := e.st.Update(ctx, keys, func(states []*store.State) ([]store.Mutation, error) {
		for i, st := range states {
			item, err := tables[i].materialize(keys[i], st)
			if err != nil {
				return nil, internal(err)
			}
			if item != nil && in.TransactItems[i].Projection != nil {
				item = expr.Project(in.TransactItems[i].Projection, item)
			}
			out.Responses[i] = item
		}
		return nil, nil
	})
	if err != nil {
		return nil, asError(err)
	}
	return out, nil
}

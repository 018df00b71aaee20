package tables

import (
	"context"

	"github.com/meridian-platform/meridian/internal/store"
	"github.com/meridian-platform/meridian/internal/tables/attr"
	"github.com/meridian-platform/meridian/internal/tables/expr"
)

type opKind uint8

const (
	opPut opKind = iota + 1
	opUpdate
	opDelete
	opCheck
)

// writeOp is one item write (or condition check), validated up front and
// then applied to the item's current state inside store.Update, where the
// condition is checked atomically with the write.
type writeOp struct {
	t      *tableMeta
	key    store.Key
	kind   opKind
	put    attr.Item // opPut
	doc    []byte    // opPut: the encoded item
	update *expr.Update
	cond   *expr.Condition
	// oldOnFailure: ReturnValuesOnConditionCheckFailure ALL_OLD.
	oldOnFailure bool
	// mergeable: an update of only top-level numeric and set ADD/DELETE
	// actions, written as counter and set mutations.
	mergeable bool

	old, new attr.Item // filled in by apply
}

func (op *writeOp) conditionFailed() *Error {
	e := &Error{Code: CodeConditionalCheckFailed, Message: msgConditionFailed}
	if op.oldOnFailure {
		e.Item = op.old
	}
	return e
}

// apply decides the mutation of op against the item's current state (nil
// when never written); nil means nothing to write. Errors are *Error.
func (op *writeOp) apply(st *store.State) (*store.Mutation, error) {
	old, err := op.t.materialize(op.key, st)
	if err != nil {
		return nil, internal(err)
	}
	op.old = old
	if op.cond != nil {
		ok, err := expr.EvalCondition(op.cond, old)
		if err != nil {
			return nil, asError(err)
		}
		if !ok {
			return nil, op.conditionFailed()
		}
	}
	switch op.kind {
	case opPut:
		op.new = op.put
		return &store.Mutation{Key: op.key, Put: op.doc}, nil
	case opDelete:
		if !st.Exists() {
			return nil, nil
		}
		return &store.Mutation{Key: op.key, Delete: true}, nil
	case opCheck:
		return nil, nil
	}
	keys, err := op.t.keyItem(op.key)
	if err != nil {
		return nil, internal(err)
	}
	if op.update == nil {
		if old != nil {
			op.new = old
			return nil, nil
		}
		op.new = keys
		return &store.Mutation{Key: op.key, Put: attr.EncodeItem(keys)}, nil
	}
	nu, err := expr.ApplyUpdate(op.update, old)
	if err != nil {
		return nil, asError(err)
	}
	for name, v := range keys {
		nu[name] = v
	}
	if err := op.t.checkItem(nu, msgUpdateTooLarge); err != nil {
		return nil, err
	}
	op.new = nu
	if !op.mergeable {
		return &store.Mutation{Key: op.key, Put: attr.EncodeItem(nu)}, nil
	}
	m := &store.Mutation{Key: op.key}
	for _, a := range op.update.Actions {
		field := a.Path.Top()
		switch {
		case a.IsCounter():
			m.Counters = append(m.Counters, store.CounterDelta{Field: field, Delta: a.Value.Value.N.String()})
		case a.Kind == expr.ActionAdd:
			m.SetAdd = append(m.SetAdd, store.SetOp{Field: field, Elems: setElems(a.Value.Value)})
		default:
			m.SetRemove = append(m.SetRemove, store.SetOp{Field: field, Elems: setElems(a.Value.Value)})
		}
	}
	return m, nil
}

// isMergeable reports whether an update has only top-level numeric ADDs and
// set ADD/DELETEs, which merge with concurrent writes instead of replacing
// the item.
func isMergeable(u *expr.Update) bool {
	if u == nil || len(u.Actions) == 0 {
		return false
	}
	for _, a := range u.Actions {
		if !a.IsTopLevel() || !(a.IsCounter() || a.IsSetOp()) {
			return false
		}
	}
	return true
}

func checkReturnValues(rv string, allowed ...string) error {
	switch rv {
	case "", ReturnNone:
		return nil
	case ReturnAllOld, ReturnAllNew, ReturnUpdatedOld, ReturnUpdatedNew:
		for _, a := range allowed {
			if rv == a {
				return nil
			}
		}
		return validationf("ReturnValues can only be ALL_OLD or NONE")
	}
	return validationf("1 validation error detected: Value '%s' at 'returnValues' failed to satisfy constraint: Member must satisfy enum value set: [ALL_NEW, UPDATED_OLD, ALL_OLD, NONE, UPDATED_NEW]", rv)
}

func checkOnFailure(rv string) (bool, error) {
	switch rv {
	case "", ReturnNone:
		return false, nil
	case ReturnAllOld:
		return true, nil
	}
	return false, validationf("1 validation error detected: Value '%s' at 'returnValuesOnConditionCheckFailure' failed to satisfy constraint: Member must satisfy enum value set: [ALL_OLD, NONE]", rv)
}

// newPut validates a put.
func newPut(t *tableMeta, item attr.Item, cond *expr.Condition, onFailure string) (*writeOp, error) {
	oldOnFailure, err := checkOnFailure(onFailure)
	if err != nil {
		return nil, err
	}
	key, err := t.keyFromItem(item)
	if err != nil {
		return nil, err
	}
	if err := t.checkItem(item, msgItemTooLarge); err != nil {
		return nil, err
	}
	return &writeOp{t: t, key: key, kind: opPut, put: item, doc: attr.EncodeItem(item), cond: cond, oldOnFailure: oldOnFailure}, nil
}

// newKeyOp validates a delete, update or condition check.
func newKeyOp(t *tableMeta, kind opKind, keyAttrs attr.Item, u *expr.Update, cond *expr.Condition, onFailure string) (*writeOp, error) {
	oldOnFailure, err := checkOnFailure(onFailure)
	if err != nil {
		return nil, err
	}
	key, err := t.keyFromKey(keyAttrs)
	if err != nil {
		return nil, err
	}
	if u != nil {
		for _, a := range u.Actions {
			if t.isKey(a.Path.Top()) {
				return nil, validationf(msgInvalidPrefix+"Cannot update attribute %s. This attribute is part of the key", a.Path.Top())
			}
		}
	}
	return &writeOp{t: t, key: key, kind: kind, update: u, cond: cond, oldOnFailure: oldOnFailure, mergeable: isMergeable(u)}, nil
}

// run applies one op in its own store.Update.
func (e *Engine) run(ctx context.Context, op *writeOp) error {
	_, err := e.st.Update(ctx, []store.Key{op.key}, func(states []*store.State) ([]store.Mutation, error) {
		m, err := op.apply(states[0])
		if err != nil || m == nil {
			return nil, err
		}
		return []store.Mutation{*m}, nil
	})
	return asError(err)
}

// PutItem writes a whole item, replacing any item with its key.
func (e *Engine) PutItem(ctx context.Context, in *PutItemInput) (*PutItemOutput, error) {
	t, err := e.table(in.TableName)
	if err != nil {
		return nil, err
	}
	if err := checkReturnValues(in.ReturnValues, ReturnAllOld); err != nil {
		return nil, err
	}
	op, err := newPut(t, in.Item, in.Condition, in.ReturnValuesOnConditionCheckFailure)
	if err != nil {
		return nil, err
	}
	if err := e.run(ctx, op); err != nil {
		return nil, err
	}
	out := &PutItemOutput{}
	if in.ReturnValues == ReturnAllOld {
		out.Attributes = op.old
	}
	return out, nil
}

// GetItem reads an item.
func (e *Engine) GetItem(_ context.Context, in *GetItemInput) (*GetItemOutput, error) {
	t, err := e.table(in.TableName)
	if err != nil {
		return nil, err
	}
	key, err := t.keyFromKey(in.Key)
	if err != nil {
		return nil, err
	}
	item, err := e.get(t, key)
	if err != nil {
		return nil, err
	}
	if item != nil && in.Projection != nil {
		item = expr.Project(in.Projection, item)
	}
	return &GetItemOutput{Item: item}, nil
}

func (e *Engine) get(t *tableMeta, key store.Key) (attr.Item, error) {
	st, err := e.st.Get(key)
	if err != nil {
		return nil, internal(err)
	}
	item, err := t.materialize(key, st)
	if err != nil {
		return nil, internal(err)
	}
	return item, nil
}

// UpdateItem updates an item, creating it if it does not exist. Updates of
// only top-level numeric ADDs and set ADD/DELETEs merge with concurrent
// writes in other regions (counters and add-wins sets); any other update
// replaces the whole item with the result computed here.
func (e *Engine) UpdateItem(ctx context.Context, in *UpdateItemInput) (*UpdateItemOutput, error) {
	t, err := e.table(in.TableName)
	if err != nil {
		return nil, err
	}
	if err := checkReturnValues(in.ReturnValues, ReturnAllOld, ReturnAllNew, ReturnUpdatedOld, ReturnUpdatedNew); err != nil {
		return nil, err
	}
	op, err := newKeyOp(t, opUpdate, in.Key, in.Update, in.Condition, in.ReturnValuesOnConditionCheckFailure)
	if err != nil {
		return nil, err
	}
	if err := e.run(ctx, op); err != nil {
		return nil, err
	}
	out := &UpdateItemOutput{}
	switch in.ReturnValues {
	case ReturnAllOld:
		out.Attributes = op.old
	case ReturnAllNew:
		out.Attributes = op.new
	case ReturnUpdatedOld, ReturnUpdatedNew:
		item := op.old
		if in.ReturnValues == ReturnUpdatedNew {
			item = op.new
		}
		if in.Update != nil && item != nil {
			paths := make(expr.Projection, len(in.Update.Actions))
			for i, a := range in.Update.Actions {
				paths[i] = a.Path
			}
			if p := expr.Project(paths, item); len(p) > 0 {
				out.Attributes = p
			}
		}
	}
	return out, nil
}

// DeleteItem deletes an item.
func (e *Engine) DeleteItem(ctx context.Context, in *DeleteItemInput) (*DeleteItemOutput, error) {
	t, err := e.table(in.TableName)
	if err != nil {
		return nil, err
	}
	if err := checkReturnValues(in.ReturnValues, ReturnAllOld); err != nil {
		return nil, err
	}
	op, err := newKeyOp(t, opDelete, in.Key, nil, in.Condition, in.ReturnValuesOnConditionCheckFailure)
	if err != nil {
		return nil, err
	}
	if err := e.run(ctx, op); err != nil {
		return nil, err
	}
	out := &DeleteItemOutput{}
	if in.ReturnValues == ReturnAllOld {
		out.Attributes = op.old
	}
	return out, nil
}

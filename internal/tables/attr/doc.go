// Package attr is Meridian's model of DynamoDB attribute values: the ten
// attribute types (S, N, B, BOOL, NULL, M, L, SS, NS, BS), exact 38-digit
// decimal numbers with DynamoDB's range and canonical text form, the
// DynamoDB JSON wire form with DynamoDB's validation messages, item size as
// DynamoDB meters it, a canonical deterministic binary encoding for storage,
// and an order-preserving encoding of key attributes.
//
// It is a leaf package with no I/O. It is imported by the table engine
// (internal/tables), the expression evaluator (internal/tables/expr) and the
// DynamoDB API adapter (internal/tables/dynamoapi).
package attr

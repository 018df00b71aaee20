package dynamoapi

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strconv"
	"strings"

	"github.com/meridian-platform/meridian/internal/sigv4"
	"github.com/meridian-platform/meridian/internal/tables"
	"github.com/meridian-platform/meridian/internal/tables/expr"
)

// TargetPrefix starts the X-Amz-Target header of every DynamoDB request.
const TargetPrefix = "DynamoDB_20120810."

// DefaultMaxBody is the largest request body accepted: DynamoDB's 16 MiB.
const DefaultMaxBody = 16 << 20

// Engine is the table engine the Handler drives; *tables.Engine is one.
type Engine interface {
	KeySchema(table, index string) (expr.KeySchema, error)
	CreateTable(context.Context, *tables.CreateTableInput) (*tables.CreateTableOutput, error)
	DescribeTable(context.Context, *tables.DescribeTableInput) (*tables.DescribeTableOutput, error)
	ListTables(context.Context, *tables.ListTablesInput) (*tables.ListTablesOutput, error)
	UpdateTable(context.Context, *tables.UpdateTableInput) (*tables.UpdateTableOutput, error)
	DeleteTable(context.Context, *tables.DeleteTableInput) (*tables.DeleteTableOutput, error)
	UpdateTimeToLive(context.Context, *tables.UpdateTimeToLiveInput) (*tables.UpdateTimeToLiveOutput, error)
	DescribeTimeToLive(context.Context, *tables.DescribeTimeToLiveInput) (*tables.DescribeTimeToLiveOutput, error)
	PutItem(context.Context, *tables.PutItemInput) (*tables.PutItemOutput, error)
	GetItem(context.Context, *tables.GetItemInput) (*tables.GetItemOutput, error)
	UpdateItem(context.Context, *tables.UpdateItemInput) (*tables.UpdateItemOutput, error)
	DeleteItem(context.Context, *tables.DeleteItemInput) (*tables.DeleteItemOutput, error)
	Query(context.Context, *tables.QueryInput) (*tables.QueryOutput, error)
	Scan(context.Context, *tables.ScanInput) (*tables.ScanOutput, error)
	BatchGetItem(context.Context, *tables.BatchGetItemInput) (*tables.BatchGetItemOutput, error)
	BatchWriteItem(context.Context, *tables.BatchWriteItemInput) (*tables.BatchWriteItemOutput, error)
	TransactWriteItems(context.Context, *tables.TransactWriteItemsInput) (*tables.TransactWriteItemsOutput, error)
	TransactGetItems(context.Context, *tables.TransactGetItemsInput) (*tables.TransactGetItemsOutput, error)
}

var _ Engine = (*tables.Engine)(nil)

// Config configures a Handler. Engine and Verifier are required.
type Config struct {
	// Engine executes the operations.
	Engine Engine
	// Verifier authenticates requests (Keys.Lookup of internal/iam behind
	// it).
	Verifier *sigv4.Verifier
	// Region is the region served, for logs.
	Region string
	// Logger (default: discard).
	Logger *slog.Logger
	// MaxBody is the largest request body read. Default 16 MiB.
	MaxBody int64
	// RequestID makes the x-amzn-RequestId of each response (default: 52
	// random upper-case letters and digits, like DynamoDB's). Tests make it
	// deterministic.
	RequestID func() string
}

// Validate says what is wrong with c.
func (c Config) Validate() error {
	var errs []error
	if c.Engine == nil {
		errs = append(errs, errors.New("dynamoapi: config: Engine is required"))
	}
	if c.Verifier == nil {
		errs = append(errs, errors.New("dynamoapi: config: Verifier is required"))
	}
	if c.MaxBody < 0 {
		errs = append(errs, fmt.Errorf("dynamoapi: config: MaxBody %d is negative", c.MaxBody))
	}
	return errors.Join(errs...)
}

// Handler serves the DynamoDB JSON protocol. It is safe for concurrent use.
type Handler struct {
	engine    Engine
	verifier  *sigv4.Verifier
	log       *slog.Logger
	maxBody   int64
	requestID func() string
}

var _ http.Handler = (*Handler)(nil)

// New returns a Handler for cfg.
func New(cfg Config) (*Handler, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	h := &Handler{engine: cfg.Engine, verifier: cfg.Verifier, log: cfg.Logger, maxBody: cfg.MaxBody, requestID: cfg.RequestID}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	h.log = h.log.With("component", "dynamoapi", "region", cfg.Region)
	if h.maxBody == 0 {
		h.maxBody = DefaultMaxBody
	}
	if h.requestID == nil {
		h.requestID = randomRequestID
	}
	return h, nil
}

// randomRequestID returns 52 random upper-case letters and digits.
func randomRequestID() string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	b := make([]byte, 52)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}

// ServeHTTP answers one DynamoDB request.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	id := h.requestID()
	op := strings.TrimPrefix(r.Header.Get("X-Amz-Target"), TargetPrefix)
	body, err := h.serve(r, op)
	if err != nil {
		h.writeError(w, r, id, op, err)
		return
	}
	h.write(w, id, http.StatusOK, body)
}

// serve authenticates, decodes and executes a request and returns the
// response document.
func (h *Handler) serve(r *http.Request, op string) (out []byte, err error) {
	defer func() {
		if p := recover(); p != nil {
			out, err = nil, fmt.Errorf("panic serving %s: %v", op, p)
		}
	}()
	res, err := h.verifier.Verify(r)
	if err != nil {
		return nil, err
	}
	if err := res.RequireService("dynamodb"); err != nil {
		return nil, err
	}
	if r.Method != http.MethodPost {
		return nil, &requestError{code: codeSerialization, msg: "Only POST requests are accepted"}
	}
	target := r.Header.Get("X-Amz-Target")
	run := h.operation(op)
	if !strings.HasPrefix(target, TargetPrefix) || run == nil {
		return nil, &requestError{code: codeUnknownOperation, msg: unknownOperationMessage(target)}
	}
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, perr := mime.ParseMediaType(ct)
		if perr != nil || (mt != "application/x-amz-json-1.0" && mt != "application/x-amz-json-1.1" && mt != "application/json") {
			return nil, serializationf("Content-Type %q is not supported; send application/x-amz-json-1.0", ct)
		}
	}
	data, err := io.ReadAll(io.LimitReader(r.Body, h.maxBody+1))
	if err != nil {
		return nil, fmt.Errorf("reading request body: %w", err)
	}
	if int64(len(data)) > h.maxBody {
		return nil, &requestError{code: codeRequestTooLarge, msg: fmt.Sprintf("Request size exceeds %d bytes", h.maxBody)}
	}
	result, err := run(r.Context(), data)
	if err != nil {
		return nil, err
	}
	b, err := marshal(result)
	if err != nil {
		return nil, fmt.Errorf("encoding %s response: %w", op, err)
	}
	return b, nil
}

func unknownOperationMessage(target string) string {
	if target == "" {
		return "Missing X-Amz-Target header"
	}
	return "Operation " + target + " is not supported"
}

// operation returns the function serving op, or nil.
func (h *Handler) operation(op string) func(context.Context, []byte) (any, error) {
	switch op {
	case "CreateTable":
		return h.createTable
	case "DescribeTable":
		return h.describeTable
	case "ListTables":
		return h.listTables
	case "UpdateTable":
		return h.updateTable
	case "DeleteTable":
		return h.deleteTable
	case "UpdateTimeToLive":
		return h.updateTimeToLive
	case "DescribeTimeToLive":
		return h.describeTimeToLive
	case "PutItem":
		return h.putItem
	case "GetItem":
		return h.getItem
	case "UpdateItem":
		return h.updateItem
	case "DeleteItem":
		return h.deleteItem
	case "Query":
		return h.query
	case "Scan":
		return h.scan
	case "BatchGetItem":
		return h.batchGetItem
	case "BatchWriteItem":
		return h.batchWriteItem
	case "TransactWriteItems":
		return h.transactWriteItems
	case "TransactGetItems":
		return h.transactGetItems
	}
	return nil
}

func (h *Handler) writeError(w http.ResponseWriter, r *http.Request, id, op string, err error) {
	e := toAPIError(err)
	if e.Internal {
		h.log.ErrorContext(r.Context(), "request failed", "request_id", id, "operation", op, "err", err)
	} else {
		h.log.DebugContext(r.Context(), "request refused", "request_id", id, "operation", op, "code", e.Code, "err", err)
	}
	w.Header().Set("X-Amzn-ErrorType", e.Code)
	h.write(w, id, e.Status, e.body())
}

// write sends a response with DynamoDB's headers.
func (h *Handler) write(w http.ResponseWriter, id string, status int, body []byte) {
	hd := w.Header()
	hd.Set("Content-Type", "application/x-amz-json-1.0")
	hd.Set("X-Amzn-Requestid", id)
	hd.Set("X-Amz-Crc32", strconv.FormatUint(uint64(crc32.ChecksumIEEE(body)), 10))
	hd.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = io.Copy(w, bytes.NewReader(body))
}

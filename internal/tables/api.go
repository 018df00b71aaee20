package tables

import (
	"time"

	"github.com/meridian-platform/meridian/internal/tables/attr"
	"github.com/meridian-platform/meridian/internal/tables/expr"
)

// The operation inputs and outputs mirror the DynamoDB API's shapes, with
// attribute values as attr values and expressions already parsed by the
// caller (expr.NewEnv, then Env.CheckUnused). String enums carry DynamoDB's
// spellings ("HASH", "S", "ALL_OLD", …) and are validated by the Engine;
// the empty string means the parameter was absent.

// Key types of a KeySchemaElement.
const (
	KeyTypeHash  = "HASH"
	KeyTypeRange = "RANGE"
)

// Projection types of a secondary index.
const (
	ProjectionAll      = "ALL"
	ProjectionKeysOnly = "KEYS_ONLY"
	ProjectionInclude  = "INCLUDE"
)

// ReturnValues settings.
const (
	ReturnNone       = "NONE"
	ReturnAllOld     = "ALL_OLD"
	ReturnUpdatedOld = "UPDATED_OLD"
	ReturnAllNew     = "ALL_NEW"
	ReturnUpdatedNew = "UPDATED_NEW"
)

// Select settings of Query and Scan.
const (
	SelectAllAttributes          = "ALL_ATTRIBUTES"
	SelectAllProjectedAttributes = "ALL_PROJECTED_ATTRIBUTES"
	SelectSpecificAttributes     = "SPECIFIC_ATTRIBUTES"
	SelectCount                  = "COUNT"
)

// Table, index, replica and TTL statuses.
const (
	StatusCreating = "CREATING"
	StatusActive   = "ACTIVE"
	StatusDeleting = "DELETING"
	StatusUpdating = "UPDATING"

	TTLEnabled  = "ENABLED"
	TTLDisabled = "DISABLED"
)

// Billing modes.
const (
	BillingProvisioned   = "PROVISIONED"
	BillingPayPerRequest = "PAY_PER_REQUEST"
)

// KeySchemaElement is one key attribute of a table or index.
type KeySchemaElement struct {
	AttributeName string
	KeyType       string // KeyTypeHash or KeyTypeRange
}

// AttributeDefinition declares the type of a key attribute: "S", "N" or "B".
type AttributeDefinition struct {
	AttributeName string
	AttributeType string
}

// Projection says which attributes a secondary index holds.
type Projection struct {
	ProjectionType   string // ProjectionAll (default), ProjectionKeysOnly, ProjectionInclude
	NonKeyAttributes []string
}

// ProvisionedThroughput is accepted and echoed for compatibility; Meridian
// does not throttle.
type ProvisionedThroughput struct {
	ReadCapacityUnits  int64
	WriteCapacityUnits int64
}

// SecondaryIndex defines a global or local secondary index.
type SecondaryIndex struct {
	IndexName             string
	KeySchema             []KeySchemaElement
	Projection            Projection
	ProvisionedThroughput *ProvisionedThroughput // GSIs only; echoed back
}

// CreateTableInput is the CreateTable request.
type CreateTableInput struct {
	TableName              string
	AttributeDefinitions   []AttributeDefinition
	KeySchema              []KeySchemaElement
	GlobalSecondaryIndexes []SecondaryIndex
	LocalSecondaryIndexes  []SecondaryIndex
	// BillingMode is BillingProvisioned (the default, which requires
	// ProvisionedThroughput, as in DynamoDB) or BillingPayPerRequest.
	BillingMode           string
	ProvisionedThroughput *ProvisionedThroughput
}

// CreateTableOutput is the CreateTable response.
type CreateTableOutput struct {
	TableDescription *TableDescription
}

// TableDescription describes a table as DescribeTable reports it.
type TableDescription struct {
	TableName              string
	TableID                string
	TableArn               string
	TableStatus            string
	CreationDateTime       time.Time
	KeySchema              []KeySchemaElement
	AttributeDefinitions   []AttributeDefinition
	BillingMode            string
	ProvisionedThroughput  *ProvisionedThroughput // nil for PAY_PER_REQUEST
	ItemCount              int64                  // approximate: items in this region
	TableSizeBytes         int64                  // approximate: attr.Size sum in this region
	GlobalSecondaryIndexes []IndexDescription
	LocalSecondaryIndexes  []IndexDescription
	// Replicas lists every region of the deployment: tables are global.
	Replicas []ReplicaDescription
}

// IndexDescription describes one secondary index.
type IndexDescription struct {
	IndexName             string
	IndexArn              string
	KeySchema             []KeySchemaElement
	Projection            Projection
	IndexStatus           string // GSIs: CREATING while this region backfills, then ACTIVE
	Backfilling           bool
	ProvisionedThroughput *ProvisionedThroughput
	ItemCount             int64
	IndexSizeBytes        int64
}

// ReplicaDescription is one region's replica of a global table.
type ReplicaDescription struct {
	RegionName    string
	ReplicaStatus string
}

// DescribeTableInput is the DescribeTable request.
type DescribeTableInput struct {
	TableName string
}

// DescribeTableOutput is the DescribeTable response.
type DescribeTableOutput struct {
	Table *TableDescription
}

// ListTablesInput is the ListTables request. Limit 0 means 100.
type ListTablesInput struct {
	ExclusiveStartTableName string
	Limit                   int
}

// ListTablesOutput is the ListTables response; LastEvaluatedTableName is ""
// on the last page.
type ListTablesOutput struct {
	TableNames             []string
	LastEvaluatedTableName string
}

// GlobalSecondaryIndexUpdate is one entry of UpdateTable's
// GlobalSecondaryIndexUpdates: exactly one of Create and Delete (Update, a
// throughput change, is accepted and ignored).
type GlobalSecondaryIndexUpdate struct {
	Create *SecondaryIndex
	Delete *DeleteGlobalSecondaryIndex
	Update *UpdateGlobalSecondaryIndex
}

// DeleteGlobalSecondaryIndex names a GSI to delete.
type DeleteGlobalSecondaryIndex struct {
	IndexName string
}

// UpdateGlobalSecondaryIndex changes a GSI's provisioned throughput.
type UpdateGlobalSecondaryIndex struct {
	IndexName             string
	ProvisionedThroughput *ProvisionedThroughput
}

// UpdateTableInput is the UpdateTable request. AttributeDefinitions must
// declare the key attributes of GSIs being created.
type UpdateTableInput struct {
	TableName                   string
	AttributeDefinitions        []AttributeDefinition
	GlobalSecondaryIndexUpdates []GlobalSecondaryIndexUpdate
	BillingMode                 string
	ProvisionedThroughput       *ProvisionedThroughput
}

// UpdateTableOutput is the UpdateTable response.
type UpdateTableOutput struct {
	TableDescription *TableDescription
}

// DeleteTableInput is the DeleteTable request.
type DeleteTableInput struct {
	TableName string
}

// DeleteTableOutput is the DeleteTable response (status DELETING).
type DeleteTableOutput struct {
	TableDescription *TableDescription
}

// TimeToLiveSpecification enables or disables TTL on an attribute.
type TimeToLiveSpecification struct {
	Enabled       bool
	AttributeName string
}

// UpdateTimeToLiveInput is the UpdateTimeToLive request.
type UpdateTimeToLiveInput struct {
	TableName               string
	TimeToLiveSpecification TimeToLiveSpecification
}

// UpdateTimeToLiveOutput is the UpdateTimeToLive response.
type UpdateTimeToLiveOutput struct {
	TimeToLiveSpecification TimeToLiveSpecification
}

// DescribeTimeToLiveInput is the DescribeTimeToLive request.
type DescribeTimeToLiveInput struct {
	TableName string
}

// TimeToLiveDescription is a table's TTL setting; AttributeName is "" when
// TTL is disabled.
type TimeToLiveDescription struct {
	TimeToLiveStatus string // TTLEnabled or TTLDisabled
	AttributeName    string
}

// DescribeTimeToLiveOutput is the DescribeTimeToLive response.
type DescribeTimeToLiveOutput struct {
	TimeToLiveDescription TimeToLiveDescription
}

// PutItemInput is the PutItem request.
type PutItemInput struct {
	TableName string
	Item      attr.Item
	// Condition is the parsed ConditionExpression, or nil.
	Condition *expr.Condition
	// ReturnValues is "", ReturnNone or ReturnAllOld.
	ReturnValues string
	// ReturnValuesOnConditionCheckFailure is "", "NONE" or "ALL_OLD".
	ReturnValuesOnConditionCheckFailure string
}

// PutItemOutput is the PutItem response; Attributes is nil unless asked.
type PutItemOutput struct {
	Attributes attr.Item
}

// GetItemInput is the GetItem request. Reads are always served from the
// local region and see every write it acknowledged, so ConsistentRead is
// accepted and changes nothing.
type GetItemInput struct {
	TableName      string
	Key            attr.Item
	Projection     expr.Projection // nil: all attributes
	ConsistentRead bool
}

// GetItemOutput is the GetItem response; Item is nil when there is none.
type GetItemOutput struct {
	Item attr.Item
}

// UpdateItemInput is the UpdateItem request. A nil Update (no
// UpdateExpression) creates the item with just its key if it is absent.
type UpdateItemInput struct {
	TableName                           string
	Key                                 attr.Item
	Update                              *expr.Update
	Condition                           *expr.Condition
	ReturnValues                        string // "" or any Return* constant
	ReturnValuesOnConditionCheckFailure string
}

// UpdateItemOutput is the UpdateItem response.
type UpdateItemOutput struct {
	Attributes attr.Item
}

// DeleteItemInput is the DeleteItem request.
type DeleteItemInput struct {
	TableName                           string
	Key                                 attr.Item
	Condition                           *expr.Condition
	ReturnValues                        string // "", ReturnNone or ReturnAllOld
	ReturnValuesOnConditionCheckFailure string
}

// DeleteItemOutput is the DeleteItem response.
type DeleteItemOutput struct {
	Attributes attr.Item
}

// QueryInput is the Query request. Parse KeyCondition against the key
// schema Engine.KeySchema returns for TableName and IndexName.
type QueryInput struct {
	TableName    string
	IndexName    string
	KeyCondition *expr.KeyCondition
	Filter       *expr.Condition
	Projection   expr.Projection
	Select       string
	// ScanIndexForward nil means true (ascending sort key order).
	ScanIndexForward *bool
	// Limit is the most items to evaluate (before the filter); 0 means no
	// limit. The adapter refuses a wire Limit below 1.
	Limit             int
	ExclusiveStartKey attr.Item
	ConsistentRead    bool
}

// QueryOutput is the Query and Scan response. Items is nil for Select COUNT.
type QueryOutput struct {
	Items            []attr.Item
	Count            int
	ScannedCount     int
	LastEvaluatedKey attr.Item
}

// ScanInput is the Scan request. TotalSegments 0 means an unsegmented scan.
type ScanInput struct {
	TableName         string
	IndexName         string
	Filter            *expr.Condition
	Projection        expr.Projection
	Select            string
	Limit             int
	ExclusiveStartKey attr.Item
	Segment           int
	TotalSegments     int
	ConsistentRead    bool
}

// ScanOutput is the Scan response.
type ScanOutput = QueryOutput

// KeysAndAttributes is one table's part of a BatchGetItem.
type KeysAndAttributes struct {
	Keys           []attr.Item
	Projection     expr.Projection
	ConsistentRead bool
}

// BatchGetItemInput is the BatchGetItem request: at most 100 keys in all.
type BatchGetItemInput struct {
	RequestItems map[string]KeysAndAttributes
}

// BatchGetItemOutput is the BatchGetItem response. UnprocessedKeys holds
// the keys left over when the response reached 16 MB.
type BatchGetItemOutput struct {
	Responses       map[string][]attr.Item
	UnprocessedKeys map[string]KeysAndAttributes
}

// WriteRequest is one put or delete of a BatchWriteItem: exactly one of
// PutItem and DeleteKey is set.
type WriteRequest struct {
	PutItem   attr.Item // PutRequest.Item
	DeleteKey attr.Item // DeleteRequest.Key
}

// BatchWriteItemInput is the BatchWriteItem request: at most 25 requests in
// all, no item twice.
type BatchWriteItemInput struct {
	RequestItems map[string][]WriteRequest
}

// BatchWriteItemOutput is the BatchWriteItem response. Meridian processes
// every request, so UnprocessedItems is always empty.
type BatchWriteItemOutput struct {
	UnprocessedItems map[string][]WriteRequest
}

// TransactWriteItem is one action of TransactWriteItems: exactly one field
// is set.
type TransactWriteItem struct {
	ConditionCheck *TransactConditionCheck
	Put            *TransactPut
	Delete         *TransactDelete
	Update         *TransactUpdate
}

// TransactConditionCheck checks a condition on an item without writing it.
type TransactConditionCheck struct {
	TableName                           string
	Key                                 attr.Item
	Condition                           *expr.Condition // required
	ReturnValuesOnConditionCheckFailure string
}

// TransactPut is a PutItem inside a transaction.
type TransactPut struct {
	TableName                           string
	Item                                attr.Item
	Condition                           *expr.Condition
	ReturnValuesOnConditionCheckFailure string
}

// TransactDelete is a DeleteItem inside a transaction.
type TransactDelete struct {
	TableName                           string
	Key                                 attr.Item
	Condition                           *expr.Condition
	ReturnValuesOnConditionCheckFailure string
}

// TransactUpdate is an UpdateItem inside a transaction.
type TransactUpdate struct {
	TableName                           string
	Key                                 attr.Item
	Update                              *expr.Update // required
	Condition                           *expr.Condition
	ReturnValuesOnConditionCheckFailure string
}

// TransactWriteItemsInput is the TransactWriteItems request: 1 to 100
// actions on distinct items. ClientRequestToken is accepted; Meridian does
// not deduplicate retries by token.
type TransactWriteItemsInput struct {
	TransactItems      []TransactWriteItem
	ClientRequestToken string
}

// TransactWriteItemsOutput is the TransactWriteItems response.
type TransactWriteItemsOutput struct{}

// TransactGetItem is one Get of TransactGetItems.
type TransactGetItem struct {
	TableName  string
	Key        attr.Item
	Projection expr.Projection
}

// TransactGetItemsInput is the TransactGetItems request: 1 to 100 gets.
type TransactGetItemsInput struct {
	TransactItems []TransactGetItem
}

// TransactGetItemsOutput is the TransactGetItems response: one entry per
// get, in order, nil for an item that does not exist.
type TransactGetItemsOutput struct {
	Responses []attr.Item
}

package attr

// ValidationError is a client input error that DynamoDB reports as a
// ValidationException. Msg is DynamoDB's message text, as close to the real
// service's as known; the API adapter sends it unchanged.
type ValidationError struct {
	Msg string
}

func (e *ValidationError) Error() string { return e.Msg }

func invalid(msg string) error { return &ValidationError{Msg: msg} }

// DynamoDB's messages for numbers.
const (
	msgNumberOverflow  = "Number overflow. Attempting to store a number with magnitude larger than supported range"
	msgNumberUnderflow = "Number underflow. Attempting to store a number with magnitude smaller than supported range"
	msgNumberDigits    = "Attempting to store more than 38 significant digits in a Number"
	msgNumberInvalid   = "The parameter cannot be converted to a numeric value"
)

// SerializationError is a request whose JSON does not have the shape of the
// DynamoDB API (a number where a string belongs, an array where an object
// belongs, bad base64). DynamoDB reports these as SerializationException;
// Msg is its message text where known.
type SerializationError struct {
	Msg string
}

func (e *SerializationError) Error() string { return e.Msg }

func malformed(msg string) error { return &SerializationError{Msg: msg} }

// DynamoDB's messages for attribute values.
const (
	msgInvalidPrefix   = "One or more parameter values were invalid: "
	msgEmptyValue      = "Supplied AttributeValue is empty, must contain exactly one of the supported datatypes"
	msgMultipleTypes   = "Supplied AttributeValue has more than one datatypes set, must contain exactly one of the supported datatypes"
	msgNullNotTrue     = msgInvalidPrefix + "Null attribute value types must have the value of true"
	msgEmptySS         = msgInvalidPrefix + "An string set  may not be empty"
	msgEmptyNS         = msgInvalidPrefix + "An number set  may not be empty"
	msgEmptyBS         = msgInvalidPrefix + "Binary sets should not be empty"
	msgNestingTooDeep  = "Nesting Levels have exceeded supported limits: Attributes in the item have nested levels beyond supported limit"
	msgUnexpectedValue = "Unexpected value type in payload"
	msgUnexpectedField = "Unexpected field type"
	msgStartOfMap      = "Start of structure or map found where not expected"
)

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

package h1

import (
	"io"
	"net/http"
	"strconv"
)

// Plain answers with a short plain-text message: a proxy's own answers (no
// route, no healthy target, a gateway error), never sniffed.
func Plain(w http.ResponseWriter, code int, msg string) {
	plainHeader(w.Header())
	w.WriteHeader(code)
	_, _ = io.WriteString(w, msg+"\n")
}

// plainHeader sets the fields of Plain's answers (the event loops' too).
func plainHeader(h http.Header) {
	h["Content-Type"] = []string{"text/plain; charset=utf-8"}
	h["X-Content-Type-Options"] = []string{"nosniff"}
}

// codeLabels are the labels of the codes 100–599.
var codeLabels = func() (l [500]string) {
	for i := range l {
		l[i] = strconv.Itoa(100 + i)
	}
	return l
}()

// CodeLabel is a status code as a metric label: its three digits ("000"
// for a code that has not three), without allocating for 100–599.
func CodeLabel(code int) string {
	switch {
	case code >= 100 && code < 600:
		return codeLabels[code-100]
	case code >= 600 && code <= 999:
		return strconv.Itoa(code)
	}
	return "000"
}

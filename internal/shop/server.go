package shop

import (
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"regexp"
	"strconv"
)

//go:embed web
var webFS embed.FS

// Response headers every request gets, so a client (or a test) can see
// which region and instance served it.
const (
	HeaderRegion   = "X-Meridian-Region"
	HeaderInstance = "X-Meridian-Instance"
)

const sessionCookie = "meridian_session"

var sessionID = regexp.MustCompile(`^[0-9a-f]{32}$`)

func parsePages() (map[string]*template.Template, error) {
	funcs := template.FuncMap{"money": money}
	pages := map[string]*template.Template{}
	for _, name := range []string{"catalog", "product", "cart", "order", "error"} {
		t, err := template.New(name).Funcs(funcs).ParseFS(webFS, "web/layout.html", "web/"+name+".html")
		if err != nil {
			return nil, fmt.Errorf("parsing page %s: %w", name, err)
		}
		pages[name] = t
	}
	return pages, nil
}

// money formats cents as dollars.
func money(cents int64) string {
	sign := ""
	if cents < 0 {
		sign, cents = "-", -cents
	}
	return fmt.Sprintf("%s$%d.%02d", sign, cents/100, cents%100)
}

func (s *Shop) routes() *http.ServeMux {
	mux := http.NewServeMux()
	static, _ := fs.Sub(webFS, "web") // "web" exists: it is embedded
	css := http.StripPrefix("/static/", http.FileServerFS(static))
	mux.HandleFunc("GET /static/shop.css", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", imageCacheControl) // the edge cache may keep it
		css.ServeHTTP(w, r)
	})
	mux.HandleFunc("GET /static/products/{file}", s.imageHandler)
	mux.HandleFunc("GET /healthz", s.healthz)

	mux.HandleFunc("GET /{$}", s.catalogPage)
	mux.HandleFunc("GET /products/{id}", s.productPage)
	mux.HandleFunc("GET /cart", s.cartPage)
	mux.HandleFunc("POST /cart/add", s.cartAddForm)
	mux.HandleFunc("POST /cart/remove", s.cartRemoveForm)
	mux.HandleFunc("POST /checkout", s.checkoutForm)
	mux.HandleFunc("GET /orders/{id}", s.orderPage)

	mux.HandleFunc("GET /api/products", s.apiProducts)
	mux.HandleFunc("GET /api/products/{id}", s.apiProduct)
	mux.HandleFunc("GET /api/cart", s.apiCart)
	mux.HandleFunc("POST /api/cart", s.apiCartAdd)
	mux.HandleFunc("DELETE /api/cart/{product_id}", s.apiCartRemove)
	mux.HandleFunc("POST /api/checkout", s.apiCheckout)
	mux.HandleFunc("GET /api/orders/{id}", s.apiOrder)
	return mux
}

// ServeHTTP stamps every response with the serving region and instance,
// and answers 503 until the tables are ready.
func (s *Shop) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set(HeaderRegion, s.cfg.Region)
	h.Set(HeaderInstance, s.cfg.Instance)
	if !s.ready.Load() && r.URL.Path != "/healthz" {
		h.Set("Retry-After", "1")
		http.Error(w, "the shop is starting", http.StatusServiceUnavailable)
		return
	}
	s.mux.ServeHTTP(w, r)
}

// healthz reports this instance's own health: it is set up, and it can
// reach its region's API (probed at most once per HealthTTL).
func (s *Shop) healthz(w http.ResponseWriter, r *http.Request) {
	body := map[string]string{"region": s.cfg.Region, "instance": s.cfg.Instance}
	code := http.StatusOK
	if !s.ready.Load() {
		body["status"], code = "starting", http.StatusServiceUnavailable
	} else if err := s.health(r.Context()); err != nil {
		body["status"], body["error"], code = "unhealthy", err.Error(), http.StatusServiceUnavailable
	} else {
		body["status"] = "ok"
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, code, body)
}

// ---- sessions ----

// session returns the request's session id, or "" when it has none.
func session(r *http.Request) string {
	c, err := r.Cookie(sessionCookie)
	if err != nil || !sessionID.MatchString(c.Value) {
		return ""
	}
	return c.Value
}

// ensureSession returns the request's session id, starting a session when
// it has none.
func ensureSession(w http.ResponseWriter, r *http.Request) string {
	if id := session(r); id != "" {
		return id
	}
	id := newID()
	http.SetCookie(w, &http.Cookie{ //nolint:gosec // G124: no Secure: the shop serves plain HTTP behind the edge, where a Secure cookie would never come back
		Name: sessionCookie, Value: id, Path: "/", HttpOnly: true,
		SameSite: http.SameSiteLaxMode, MaxAge: 30 * 24 * 3600,
	})
	return id
}

// ---- errors ----

func statusOf(err error) int {
	var oos *OutOfStockError
	switch {
	case errors.Is(err, errNotFound):
		return http.StatusNotFound
	case errors.Is(err, errEmptyCart), errors.Is(err, errTooMany):
		return http.StatusBadRequest
	case errors.Is(err, errCartChanged), errors.As(err, &oos):
		return http.StatusConflict
	}
	return http.StatusInternalServerError
}

// message is what a user is told about err; internal errors are logged and
// not shown.
func (s *Shop) message(r *http.Request, err error) string {
	switch code := statusOf(err); code {
	case http.StatusInternalServerError:
		s.log.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		return "Something went wrong on our side; please try again."
	case http.StatusNotFound:
		return "Not found."
	default:
		return err.Error()
	}
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v) // the client went away; nothing to do
}

func (s *Shop) apiError(w http.ResponseWriter, r *http.Request, err error) {
	body := map[string]any{"error": s.message(r, err)}
	var oos *OutOfStockError
	if errors.As(err, &oos) {
		body["product_id"], body["available"], body["region"] = oos.ProductID, oos.Available, oos.Region
	}
	writeJSON(w, statusOf(err), body)
}

func formQuantity(v string) (int64, error) {
	if v == "" {
		return 1, nil
	}
	q, err := strconv.ParseInt(v, 10, 64)
	if err != nil || q < 1 || q > maxQuantity {
		return 0, errTooMany
	}
	return q, nil
}

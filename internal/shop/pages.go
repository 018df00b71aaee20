package shop

import (
	"bytes"
	"errors"
	"net/http"
	"strconv"
)

// view is what every page template gets.
type view struct {
	Title     string
	Region    string
	Instance  string
	CartCount int64
	Error     string
	Products  []productView
	Product   productView
	Cart      Cart
	Order     Order
}

// productView is a product with its stock as this region sees it.
type productView struct {
	Product
	Available Stock  `json:"available"`
	Region    string `json:"region"`
}

func (s *Shop) view(r *http.Request, title string) view {
	v := view{Title: title, Region: s.cfg.Region, Instance: s.cfg.Instance}
	if id := session(r); id != "" {
		// The count in the header is a courtesy; a failure shows 0.
		if c, err := s.db.cart(r.Context(), id); err == nil {
			v.CartCount = c.Count()
		}
	}
	return v
}

// render writes a page, buffered so that a template error becomes a clean
// 500 instead of half a page.
func (s *Shop) render(w http.ResponseWriter, _ *http.Request, code int, page string, v view) {
	var buf bytes.Buffer
	if err := s.pages[page].ExecuteTemplate(&buf, "layout", v); err != nil {
		s.log.Error("rendering page", "page", page, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	// With its length known (the page is whole in buf), proxies can tell
	// a complete answer from a cut one: the edge reads a page this size
	// whole before committing to a region, so a region dying mid-answer is
	// replaced instead of cutting the page.
	w.Header().Set("Content-Length", strconv.Itoa(buf.Len()))
	w.WriteHeader(code)
	_, _ = w.Write(buf.Bytes()) // the client went away; nothing to do
}

func (s *Shop) errorPage(w http.ResponseWriter, r *http.Request, err error) {
	v := s.view(r, s.message(r, err))
	s.render(w, r, statusOf(err), "error", v)
}

func (s *Shop) productViews(r *http.Request, products []Product) ([]productView, error) {
	stock, err := s.db.stocks(r.Context(), products)
	if err != nil {
		return nil, err
	}
	out := make([]productView, len(products))
	for i, p := range products {
		out[i] = productView{Product: p, Available: stock[p.ID], Region: s.cfg.Region}
	}
	return out, nil
}

func (s *Shop) catalogPage(w http.ResponseWriter, r *http.Request) {
	products, err := s.db.products(r.Context())
	if err != nil {
		s.errorPage(w, r, err)
		return
	}
	views, err := s.productViews(r, products)
	if err != nil {
		s.errorPage(w, r, err)
		return
	}
	v := s.view(r, "Catalog")
	v.Products = views
	s.render(w, r, http.StatusOK, "catalog", v)
}

func (s *Shop) productPage(w http.ResponseWriter, r *http.Request) {
	p, err := s.db.product(r.Context(), r.PathValue("id"))
	if err != nil {
		s.errorPage(w, r, err)
		return
	}
	views, err := s.productViews(r, []Product{p})
	if err != nil {
		s.errorPage(w, r, err)
		return
	}
	v := s.view(r, p.Name)
	v.Product = views[0]
	s.render(w, r, http.StatusOK, "product", v)
}

func (s *Shop) cartPage(w http.ResponseWriter, r *http.Request) {
	s.showCart(w, r, http.StatusOK, "")
}

// showCart renders the cart, with an error message when a cart action or
// a checkout failed.
func (s *Shop) showCart(w http.ResponseWriter, r *http.Request, code int, message string) {
	v := s.view(r, "Your cart")
	v.Error = message
	if id := session(r); id != "" {
		c, err := s.db.cart(r.Context(), id)
		if err != nil {
			s.errorPage(w, r, err)
			return
		}
		v.Cart = c
	}
	s.render(w, r, code, "cart", v)
}

func (s *Shop) cartAddForm(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 4<<10)
	q, err := formQuantity(r.PostFormValue("quantity"))
	if err == nil {
		err = s.db.addToCart(r.Context(), ensureSession(w, r), r.PostFormValue("product_id"), q)
	}
	if err != nil {
		s.showCart(w, r, statusOf(err), s.message(r, err))
		return
	}
	http.Redirect(w, r, "/cart", http.StatusSeeOther)
}

func (s *Shop) cartRemoveForm(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 4<<10)
	if id := session(r); id != "" {
		if err := s.db.removeFromCart(r.Context(), id, r.PostFormValue("product_id")); err != nil {
			s.showCart(w, r, statusOf(err), s.message(r, err))
			return
		}
	}
	http.Redirect(w, r, "/cart", http.StatusSeeOther)
}

func (s *Shop) checkoutForm(w http.ResponseWriter, r *http.Request) {
	id := session(r)
	if id == "" {
		s.showCart(w, r, http.StatusBadRequest, errEmptyCart.Error())
		return
	}
	o, err := s.db.checkout(r.Context(), id, s.cfg.Instance, s.cfg.Now())
	if err != nil {
		var oos *OutOfStockError
		if errors.As(err, &oos) {
			s.log.Info("checkout refused: out of stock", "product", oos.ProductID, "requested", oos.Requested, "available", oos.Available)
		}
		s.showCart(w, r, statusOf(err), s.message(r, err))
		return
	}
	s.log.Info("order placed", "order", o.ID, "total_cents", o.TotalCents)
	http.Redirect(w, r, "/orders/"+o.ID, http.StatusSeeOther)
}

func (s *Shop) orderPage(w http.ResponseWriter, r *http.Request) {
	o, err := s.db.order(r.Context(), r.PathValue("id"))
	if err != nil {
		s.errorPage(w, r, err)
		return
	}
	v := s.view(r, "Order "+o.ID)
	v.Order = o
	s.render(w, r, http.StatusOK, "order", v)
}

package shop

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
)

// The JSON API offers the pages' actions to programs. A session is the
// same cookie the pages use; a client keeps it in a cookie jar.
//
//	GET    /api/products            catalog with stock
//	GET    /api/products/{id}       one product
//	GET    /api/cart                the session's cart
//	POST   /api/cart                {"product_id": "mug", "quantity": 2}
//	DELETE /api/cart/{product_id}   remove a line
//	POST   /api/checkout            201 with the order; 409 when out of stock
//	GET    /api/orders/{id}         an order

func (s *Shop) apiProducts(w http.ResponseWriter, r *http.Request) {
	products, err := s.db.products(r.Context())
	if err == nil {
		var views []productView
		if views, err = s.productViews(r, products); err == nil {
			writeJSON(w, http.StatusOK, views)
			return
		}
	}
	s.apiError(w, r, err)
}

func (s *Shop) apiProduct(w http.ResponseWriter, r *http.Request) {
	p, err := s.db.product(r.Context(), r.PathValue("id"))
	if err == nil {
		var views []productView
		if views, err = s.productViews(r, []Product{p}); err == nil {
			writeJSON(w, http.StatusOK, views[0])
			return
		}
	}
	s.apiError(w, r, err)
}

func (s *Shop) writeCart(w http.ResponseWriter, r *http.Request, id string) {
	c := Cart{Lines: []CartLine{}}
	if id != "" {
		var err error
		if c, err = s.db.cart(r.Context(), id); err != nil {
			s.apiError(w, r, err)
			return
		}
		if c.Lines == nil {
			c.Lines = []CartLine{}
		}
	}
	writeJSON(w, http.StatusOK, c)
}

func (s *Shop) apiCart(w http.ResponseWriter, r *http.Request) { s.writeCart(w, r, session(r)) }

func (s *Shop) apiCartAdd(w http.ResponseWriter, r *http.Request) {
	var in struct {
		ProductID string `json:"product_id"`
		Quantity  int64  `json:"quantity"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4<<10)).Decode(&in); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": fmt.Sprintf("the body must be JSON like {\"product_id\": \"mug\", \"quantity\": 1}: %v", err)})
		return
	}
	if in.Quantity == 0 {
		in.Quantity = 1
	}
	id := ensureSession(w, r)
	if err := s.db.addToCart(r.Context(), id, in.ProductID, in.Quantity); err != nil {
		s.apiError(w, r, err)
		return
	}
	s.writeCart(w, r, id)
}

func (s *Shop) apiCartRemove(w http.ResponseWriter, r *http.Request) {
	id := session(r)
	if id != "" {
		if err := s.db.removeFromCart(r.Context(), id, r.PathValue("product_id")); err != nil {
			s.apiError(w, r, err)
			return
		}
	}
	s.writeCart(w, r, id)
}

func (s *Shop) apiCheckout(w http.ResponseWriter, r *http.Request) {
	id := session(r)
	if id == "" {
		s.apiError(w, r, errEmptyCart)
		return
	}
	o, err := s.db.checkout(r.Context(), id, s.cfg.Instance, s.cfg.Now())
	if err != nil {
		var oos *OutOfStockError
		if errors.As(err, &oos) {
			s.log.Info("checkout refused: out of stock", "product", oos.ProductID, "requested", oos.Requested, "available", oos.Available)
		}
		s.apiError(w, r, err)
		return
	}
	s.log.Info("order placed", "order", o.ID, "total_cents", o.TotalCents)
	w.Header().Set("Location", "/api/orders/"+o.ID)
	writeJSON(w, http.StatusCreated, o)
}

func (s *Shop) apiOrder(w http.ResponseWriter, r *http.Request) {
	o, err := s.db.order(r.Context(), r.PathValue("id"))
	if err != nil {
		s.apiError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, o)
}

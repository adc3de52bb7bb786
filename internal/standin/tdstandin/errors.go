package tdstandin

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
)

const jsonAPIType = "application/vnd.treasuredata.v1+json"

type apiError struct {
	Code   string         `json:"code"`
	Status string         `json:"status"`
	Detail string         `json:"detail"`
	Source map[string]any `json:"source,omitempty"`
	Meta   map[string]any `json:"meta,omitempty"`
}

func writeJSON(w http.ResponseWriter, status int, contentType string, v any) {
	w.Header().Set("Content-Type", contentType)
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

// writeRESTError answers the REST error shape {code, message}.
func writeRESTError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, "application/json", map[string]string{"code": code, "message": msg})
}

// writeJSONAPIErrors answers the JSON:API error shape {errors: [...]}.
func writeJSONAPIErrors(w http.ResponseWriter, status int, errs ...apiError) {
	writeJSON(w, status, jsonAPIType, map[string]any{"errors": errs})
}

// writeErrorsObject answers the errors-as-object shape
// {errors: {field: [messages]}} that /entities/segments and the CAS upload
// use for uniqueness failures.
func writeErrorsObject(w http.ResponseWriter, status int, field string, msgs ...string) {
	writeJSON(w, status, "application/json", map[string]any{"errors": map[string][]string{field: msgs}})
}

// writeServerError answers an injected 5xx or 429. 502 is answered with an
// HTML page as a load balancer would; other statuses with the documented
// {status, error, details} body.
func writeServerError(w http.ResponseWriter, status int) {
	switch {
	case status == http.StatusBadGateway:
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(status)
		fmt.Fprintf(w, "<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway</h1></center></body></html>\n")
	case status == http.StatusTooManyRequests:
		writeRESTError(w, status, "too_many_requests", "Rate limit exceeded")
	default:
		writeJSON(w, status, "application/json", map[string]any{"status": status,
			"error": http.StatusText(status), "details": "temporary failure, retry later"})
	}
}

func notFound(w http.ResponseWriter, r *http.Request, kind, id string) {
	msg := fmt.Sprintf("Couldn't find %s with 'id'=%s", kind, id)
	if isEntities(r) {
		writeJSONAPIErrors(w, http.StatusNotFound, apiError{Code: "record-not-found-error", Status: "404", Detail: msg})
		return
	}
	writeRESTError(w, http.StatusNotFound, "record_not_found", msg)
}

func badParameter(w http.ResponseWriter, detail, pointer string) {
	e := apiError{Code: "bad-parameter-error", Status: "400", Detail: detail, Meta: map[string]any{"validationCode": "INVALID_FORMAT"}}
	if pointer != "" {
		e.Source = map[string]any{"pointer": pointer}
	}
	writeJSONAPIErrors(w, http.StatusBadRequest, e)
}

func validation(w http.ResponseWriter, code, detail, pointer string) {
	e := apiError{Code: "validation-error", Status: "400", Detail: detail, Meta: map[string]any{"validationCode": code}}
	if pointer != "" {
		e.Source = map[string]any{"pointer": pointer}
	}
	writeJSONAPIErrors(w, http.StatusBadRequest, e)
}

// wantsJSONAPI reports whether the client asked for JSON:API bodies; the
// conflict answer of DELETE differs by media type.
func wantsJSONAPI(r *http.Request) bool {
	return strings.Contains(r.Header.Get("Accept"), jsonAPIType) || strings.Contains(r.Header.Get("Content-Type"), jsonAPIType)
}

func decodeBody(r *http.Request, v any) error {
	dec := json.NewDecoder(http.MaxBytesReader(nil, r.Body, 4<<20))
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		return err
	}
	return nil
}

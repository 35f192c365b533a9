package httpapi

import (
	"errors"
	"io"
	"net/http"
	"reflect"
	"strings"
	"sync"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
)

// MaxBodyBytes is the largest request body accepted (SPEC: 8 KiB).
const MaxBodyBytes = 8 << 10

// Field is a body member whose absence, null and value must be told apart,
// as in a PATCH body where a member left out is unchanged and null clears
// it. A plain Go field of a body struct refuses null; a Field accepts it.
type Field[T any] struct {
	Set   bool // the member was present, as null or as a value
	Null  bool // the member was null
	Value T    // the value, when Set and not Null
}

// UnmarshalJSONFrom implements json.UnmarshalerFrom.
func (f *Field[T]) UnmarshalJSONFrom(dec *jsontext.Decoder) error {
	f.Set = true
	var zero T
	f.Value = zero
	if dec.PeekKind() == 'n' {
		f.Null = true
		_, err := dec.ReadToken()
		return err
	}
	f.Null = false
	return json.UnmarshalDecode(dec, &f.Value)
}

// elemType gives the type of the value, for messages.
func (*Field[T]) elemType() reflect.Type { return reflect.TypeFor[T]() }

// nullable is implemented by Field: the one type that takes a JSON null.
type nullable interface{ elemType() reflect.Type }

var errNull = errors.New("null where a value is required")

// strictJSON are the decoding rules of every request body: unknown members
// refused, duplicate members refused (jsontext's default), names matched
// exactly (json v2's default), invalid UTF-8 refused (the default), and null
// only where a Field allows it (v2 would otherwise turn null into a zero
// value, so {"label":null} would pass as an empty label).
// They are built on first use, not at package initialisation, so that the
// functions that decode no body link no JSON v2 at all.
var strictJSON = sync.OnceValue(func() json.Options {
	return json.JoinOptions(
		json.RejectUnknownMembers(true),
		jsontext.AllowDuplicateNames(false),
		jsontext.AllowInvalidUTF8(false),
		json.MatchCaseInsensitiveNames(false),
		json.WithUnmarshalers(json.UnmarshalFromFunc(func(dec *jsontext.Decoder, v any) error {
			if dec.PeekKind() == 'n' {
				if _, ok := v.(nullable); !ok {
					return errNull
				}
			}
			return json.SkipFunc
		})),
	)
})

// DecodeBody reads the request body into dst, a pointer to a struct whose
// members carry `json:"name"` tags (use Field for a member that may be
// null). The body must be exactly one JSON object of at most MaxBodyBytes,
// with no unknown or repeated member and every member of its Go type. The
// body is judged, not the Content-Type header: curl's -d sends a form
// content type, and the admin token in Authorization already rules out
// cross-site form posts.
//
// Every failure is invalid_request with a message that names only members
// dst declares: never a member name or value from the body, which may hold
// key material.
func DecodeBody(w http.ResponseWriter, r *http.Request, dst any) error {
	body, err := readBody(w, r)
	if err != nil {
		return err
	}
	return unmarshalBody(body, dst)
}

// DecodeOptionalBody is DecodeBody for a route whose body may be left out:
// an empty body (or only whitespace) leaves dst as it is.
func DecodeOptionalBody(w http.ResponseWriter, r *http.Request, dst any) error {
	body, err := readBody(w, r)
	if err != nil {
		return err
	}
	if len(strings.TrimLeft(string(body), " \t\r\n")) == 0 {
		return nil
	}
	return unmarshalBody(body, dst)
}

// readBody reads at most MaxBodyBytes; a declared length over the limit is
// refused before a byte is read.
func readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	tooBig := invalid("The request body must be at most %d bytes.", MaxBodyBytes)
	if r.ContentLength > MaxBodyBytes {
		return nil, tooBig
	}
	if r.Body == nil {
		return nil, nil
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, tooBig
		}
		return nil, invalid("The request body could not be read.")
	}
	return body, nil
}

func unmarshalBody(body []byte, dst any) error {
	err := json.Unmarshal(body, dst, strictJSON())
	if err == nil {
		return nil
	}
	names, types := members(reflect.TypeOf(dst).Elem())
	if errors.Is(err, jsontext.ErrDuplicateName) {
		return invalid("The request body has a member more than once.")
	}
	if errors.Is(err, json.ErrUnknownName) {
		return invalid("The request body has an unknown member; it takes %s.", memberList(names))
	}
	var serr *json.SemanticError
	if errors.As(err, &serr) {
		// The first token of the pointer names a member of dst (unknown
		// names were handled above), so it is ours to quote.
		name, _, _ := strings.Cut(strings.TrimPrefix(string(serr.JSONPointer), "/"), "/")
		if t, ok := types[name]; ok && name != "" {
			return invalid("%s must be %s.", name, describe(t))
		}
	}
	return invalid("The request body must be one JSON object.")
}

// members lists the JSON member names of struct type t in declaration
// order, and maps each to its Go type.
func members(t reflect.Type) ([]string, map[string]reflect.Type) {
	var names []string
	m := make(map[string]reflect.Type)
	if t.Kind() != reflect.Struct {
		return nil, m
	}
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if !f.IsExported() || name == "-" {
			continue
		}
		if name == "" {
			name = f.Name
		}
		names = append(names, name)
		m[name] = f.Type
	}
	return names, m
}

// memberList lists member names for a message.
func memberList(names []string) string {
	switch len(names) {
	case 0:
		return "no members"
	case 1:
		return names[0]
	}
	return strings.Join(names[:len(names)-1], ", ") + " and " + names[len(names)-1]
}

// describe names the JSON a Go type takes, for a message.
func describe(t reflect.Type) string {
	if n, ok := reflect.New(t).Interface().(nullable); ok {
		return describe(n.elemType()) + " or null"
	}
	switch t.Kind() {
	case reflect.Pointer: // an optional member: absent is nil, null is refused
		return describe(t.Elem())
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		return "an array of " + strings.TrimPrefix(strings.TrimPrefix(describe(t.Elem()), "a "), "an ") + "s"
	case reflect.Struct, reflect.Map:
		return "an object"
	}
	return "of another type"
}

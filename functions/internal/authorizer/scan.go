package authorizer

// scanHTTPEvent reads, in one pass and without reflection, the members of
// an HTTP API payload 2.0 event the decision needs: version, type, the
// Authorization headers and requestContext.requestId. Member names match
// case-insensitively and the last occurrence wins, as with encoding/json.
// It checks the JSON syntax of everything it skips. When anything is not
// as API Gateway sends it (a member of an unexpected type, nesting deeper
// than maxDepth, invalid JSON), it returns false and Invoke decodes the
// event with encoding/json as before, so this path never decides
// differently, it only decides faster.
func scanHTTPEvent(b []byte) (httpEventFields, bool) {
	var ev httpEventFields
	s := scanner{b: b}
	ok := s.object(func(name []byte) bool {
		switch {
		case asciiFold(name, "version"):
			return s.strInto(&ev.Version, "2.0")
		case asciiFold(name, "type"):
			return s.strInto(&ev.Type, "REQUEST")
		case asciiFold(name, "headers"):
			if s.null() {
				ev.Headers = authorizationHeaders{}
				return true
			}
			// A repeated headers member adds to the first, as it does to
			// encoding/json's map.
			return s.object(func(name []byte) bool {
				if !asciiFold(name, "authorization") {
					return s.skipStr()
				}
				v, ok := s.str()
				if ok {
					ev.Headers.add(string(name), v)
				}
				return ok
			})
		case asciiFold(name, "requestContext"):
			return s.object(func(name []byte) bool {
				if asciiFold(name, "requestId") {
					return s.strInto(&ev.RequestContext.RequestID, "")
				}
				return s.skip(1)
			})
		}
		return s.skip(0)
	})
	if !ok || s.ws() != len(b) {
		return httpEventFields{}, false
	}
	return ev, true
}

// asciiFold compares a member name with lit, ignoring ASCII case (names
// outside ASCII never get here: object declines them).
func asciiFold(name []byte, lit string) bool {
	if len(name) != len(lit) {
		return false
	}
	for i := range name {
		a, b := name[i], lit[i]
		if 'A' <= a && a <= 'Z' {
			a += 'a' - 'A'
		}
		if 'A' <= b && b <= 'Z' {
			b += 'a' - 'A'
		}
		if a != b {
			return false
		}
	}
	return true
}

// maxDepth bounds the nesting scanHTTPEvent follows; deeper events take the
// encoding/json path.
const maxDepth = 32

type scanner struct {
	b []byte
	i int
}

// ws skips white space and returns the position.
func (s *scanner) ws() int {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return s.i
		}
	}
	return s.i
}

// object reads {"name": value, ...}, calling member for each name with the
// scanner at the value, which member must consume. Names with escapes or
// outside ASCII are declined (encoding/json's case folding decides those).
func (s *scanner) object(member func(name []byte) bool) bool {
	if s.ws() >= len(s.b) || s.b[s.i] != '{' {
		return false
	}
	s.i++
	if s.ws() < len(s.b) && s.b[s.i] == '}' {
		s.i++
		return true
	}
	for {
		start := s.ws()
		if !s.skipString() {
			return false
		}
		name := s.b[start+1 : s.i-1]
		for _, c := range name {
			if c == '\\' || c >= 0x80 {
				return false
			}
		}
		if s.ws() >= len(s.b) || s.b[s.i] != ':' {
			return false
		}
		s.i++
		if !member(name) {
			return false
		}
		if s.ws() >= len(s.b) {
			return false
		}
		switch s.b[s.i] {
		case ',':
			s.i++
		case '}':
			s.i++
			return true
		default:
			return false
		}
	}
}

// strInto reads a JSON string into dst; a value equal to common is stored
// without allocating.
func (s *scanner) strInto(dst *string, common string) bool {
	start := s.ws()
	if !s.skipString() {
		return false
	}
	raw := s.b[start+1 : s.i-1]
	if common != "" && string(raw) == common {
		*dst = common
		return true
	}
	v, _, err := jsonString(s.b, start)
	*dst = v
	return err == nil
}

// skipStr consumes a string value (and nothing else).
func (s *scanner) skipStr() bool {
	s.ws()
	return s.skipString()
}

// null consumes a null literal if there is one.
func (s *scanner) null() bool {
	if s.ws()+4 <= len(s.b) && string(s.b[s.i:s.i+4]) == "null" {
		s.i += 4
		return true
	}
	return false
}

// str reads a JSON string and returns its value.
func (s *scanner) str() (string, bool) {
	start := s.ws()
	if !s.skipString() {
		return "", false
	}
	v, _, err := jsonString(s.b, start)
	return v, err == nil
}

// skipString checks and consumes a JSON string.
func (s *scanner) skipString() bool {
	if s.i >= len(s.b) || s.b[s.i] != '"' {
		return false
	}
	for j := s.i + 1; j < len(s.b); j++ {
		switch c := s.b[j]; {
		case c == '"':
			s.i = j + 1
			return true
		case c < 0x20:
			return false
		case c == '\\':
			j++
			if j >= len(s.b) {
				return false
			}
			switch s.b[j] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if j+4 >= len(s.b) {
					return false
				}
				for k := j + 1; k <= j+4; k++ {
					if !isHex(s.b[k]) {
						return false
					}
				}
				j += 4
			default:
				return false
			}
		}
	}
	return false
}

func isHex(c byte) bool { return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F' }

// skip checks and consumes any JSON value.
func (s *scanner) skip(depth int) bool {
	if depth > maxDepth || s.ws() >= len(s.b) {
		return false
	}
	switch c := s.b[s.i]; {
	case c == '"':
		return s.skipString()
	case c == '{':
		return s.skipObject(depth)
	case c == '[':
		s.i++
		if s.ws() < len(s.b) && s.b[s.i] == ']' {
			s.i++
			return true
		}
		for {
			if !s.skip(depth+1) || s.ws() >= len(s.b) {
				return false
			}
			switch s.b[s.i] {
			case ',':
				s.i++
			case ']':
				s.i++
				return true
			default:
				return false
			}
		}
	case c == 't':
		return s.literal("true")
	case c == 'f':
		return s.literal("false")
	case c == 'n':
		return s.literal("null")
	default:
		return s.number()
	}
}

func (s *scanner) literal(lit string) bool {
	if s.i+len(lit) <= len(s.b) && string(s.b[s.i:s.i+len(lit)]) == lit {
		s.i += len(lit)
		return true
	}
	return false
}

// number consumes -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?
func (s *scanner) number() bool {
	b, i := s.b, s.i
	if i < len(b) && b[i] == '-' {
		i++
	}
	digits := func() int {
		n := 0
		for i < len(b) && '0' <= b[i] && b[i] <= '9' {
			i++
			n++
		}
		return n
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case digits() == 0:
		return false
	}
	if i < len(b) && b[i] == '.' {
		i++
		if digits() == 0 {
			return false
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if digits() == 0 {
			return false
		}
	}
	s.i = i
	return true
}

// skipObject checks and consumes an object (object without a callback, so
// skipping allocates nothing).
func (s *scanner) skipObject(depth int) bool {
	s.i++ // '{'
	if s.ws() < len(s.b) && s.b[s.i] == '}' {
		s.i++
		return true
	}
	for {
		if s.ws() >= len(s.b) || !s.skipString() || s.ws() >= len(s.b) || s.b[s.i] != ':' {
			return false
		}
		s.i++
		if !s.skip(depth+1) || s.ws() >= len(s.b) {
			return false
		}
		switch s.b[s.i] {
		case ',':
			s.i++
		case '}':
			s.i++
			return true
		default:
			return false
		}
	}
}

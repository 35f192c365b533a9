// Package faults is a fault-injecting HTTP proxy for tests: put it between
// an AWS SDK client and its endpoint (DynamoDB Local, say) and it passes
// requests through, or answers them as a failing AWS service would —
// throttling errors in the AWS JSON 1.0 wire format, answers delayed past
// the client's timeout, dropped connections, a write that is applied but
// whose answer is lost — for every request, only the Nth, or only one
// operation (X-Amz-Target). It can also stop listening, as a database that
// went away mid-test, and start again on the same address. It counts the
// requests it sees per operation, so tests can assert how many reads and
// writes a call costs.
//
// It is a normal package (not _test) so tests of several packages can share
// it; nothing outside tests should import it.
package faults

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// Kind is what the proxy does with a request a Fault matches.
type Kind int

// The kinds of fault.
const (
	// Pass forwards the request (a rule that only counts).
	Pass Kind = iota
	// ThroughputExceeded answers 400 ProvisionedThroughputExceededException
	// without forwarding.
	ThroughputExceeded
	// Throttling answers 400 ThrottlingException without forwarding.
	Throttling
	// InternalError answers 500 InternalServerError without forwarding.
	InternalError
	// Unavailable answers 503 ServiceUnavailable without forwarding.
	Unavailable
	// Delay waits Fault.Delay, then forwards the request if the client is
	// still waiting. Use it to push an answer past the client's timeout.
	Delay
	// Drop closes the connection without forwarding or answering.
	Drop
	// DropAfterForward forwards the request (so a write is applied), then
	// closes the connection without answering: the client cannot tell
	// whether the write happened.
	DropAfterForward
)

var kindNames = map[Kind]string{
	Pass: "pass", ThroughputExceeded: "ProvisionedThroughputExceededException", Throttling: "ThrottlingException",
	InternalError: "InternalServerError", Unavailable: "ServiceUnavailable", Delay: "delay", Drop: "drop",
	DropAfterForward: "drop-after-forward",
}

func (k Kind) String() string {
	if s, ok := kindNames[k]; ok {
		return s
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// Fault says which requests to fail and how.
type Fault struct {
	Kind Kind
	// Op restricts the fault to one operation, the part of X-Amz-Target
	// after the dot ("GetItem", "TransactWriteItems"). Empty: every
	// operation.
	Op string
	// Nth restricts the fault to the Nth request it matches (1-based).
	// Zero: every matching request.
	Nth int
	// Delay is the wait of a Delay fault.
	Delay time.Duration
}

func (f Fault) String() string {
	s := f.Kind.String()
	if f.Op != "" {
		s += " on " + f.Op
	} else {
		s += " on every op"
	}
	if f.Nth > 0 {
		s += fmt.Sprintf(" (request #%d only)", f.Nth)
	}
	if f.Kind == Delay {
		s += " " + f.Delay.String()
	}
	return s
}

type rule struct {
	Fault
	seen int // matching requests so far
}

// Proxy is a fault-injecting reverse proxy. It is safe for concurrent use.
type Proxy struct {
	upstream  *url.URL
	transport *http.Transport
	addr      string

	mu       sync.Mutex
	srv      *http.Server
	ln       net.Listener
	conns    map[net.Conn]struct{}
	rules    []*rule
	counts   map[string]int
	injected map[string]int // faults applied, by Fault.String()
	stopped  bool
	closed   bool
}

// New starts a proxy to upstream (a base URL such as http://127.0.0.1:8000)
// on a free loopback port. Close it when done.
func New(upstream string) (*Proxy, error) {
	u, err := url.Parse(upstream)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return nil, fmt.Errorf("faults: upstream %q is not a URL", upstream)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("faults: listen: %w", err)
	}
	p := &Proxy{
		upstream: u,
		// Its own transport, so a test's faults never disturb other clients.
		transport: &http.Transport{
			Proxy:               nil,
			DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
			MaxIdleConnsPerHost: 64,
			IdleConnTimeout:     30 * time.Second,
		},
		addr:     ln.Addr().String(),
		conns:    map[net.Conn]struct{}{},
		counts:   map[string]int{},
		injected: map[string]int{},
	}
	p.serve(ln)
	return p, nil
}

// Start returns a proxy to upstream that is closed when t ends. It fails t
// if the proxy cannot start.
func Start(t testing.TB, upstream string) *Proxy {
	t.Helper()
	p, err := New(upstream)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p
}

// URL is the proxy's base URL, to use as the client's endpoint.
func (p *Proxy) URL() string { return "http://" + p.addr }

func (p *Proxy) serve(ln net.Listener) {
	srv := &http.Server{
		Handler:           http.HandlerFunc(p.handle),
		ReadHeaderTimeout: 10 * time.Second,
		ConnState: func(c net.Conn, s http.ConnState) {
			p.mu.Lock()
			defer p.mu.Unlock()
			switch s {
			case http.StateNew:
				p.conns[c] = struct{}{}
			case http.StateClosed, http.StateHijacked:
				delete(p.conns, c)
			}
		},
	}
	p.mu.Lock()
	p.srv, p.ln, p.stopped = srv, ln, false
	p.mu.Unlock()
	go func() { _ = srv.Serve(ln) }()
}

// Stop makes the endpoint go away: it stops listening and closes every open
// connection, so requests in flight fail and new ones are refused, as when
// the database process is stopped.
func (p *Proxy) Stop() {
	p.mu.Lock()
	srv := p.srv
	p.stopped = true
	p.mu.Unlock()
	if srv != nil {
		_ = srv.Close() // closes the listener and every connection
	}
}

// Restart listens again on the same address after Stop.
func (p *Proxy) Restart() error {
	p.mu.Lock()
	if !p.stopped || p.closed {
		p.mu.Unlock()
		return nil
	}
	p.mu.Unlock()
	var ln net.Listener
	var err error
	// The port was just released; give the kernel a moment if needed.
	for range 50 {
		if ln, err = net.Listen("tcp", p.addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		return fmt.Errorf("faults: listen again on %s: %w", p.addr, err)
	}
	p.serve(ln)
	return nil
}

// Close stops the proxy for good.
func (p *Proxy) Close() {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	p.Stop()
	p.transport.CloseIdleConnections()
}

// Inject adds faults; they apply in order, and the first that matches a
// request decides.
func (p *Proxy) Inject(fs ...Fault) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, f := range fs {
		p.rules = append(p.rules, &rule{Fault: f})
	}
}

// Clear removes every fault: requests pass through again.
func (p *Proxy) Clear() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.rules = nil
}

// Count returns how many requests of the operation the proxy received
// (faulted or not). Op "" counts every request.
func (p *Proxy) Count(op string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if op == "" {
		n := 0
		for _, c := range p.counts {
			n += c
		}
		return n
	}
	return p.counts[op]
}

// Counts returns the request counts by operation.
func (p *Proxy) Counts() map[string]int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return maps.Clone(p.counts)
}

// ResetCounts zeroes the request counts.
func (p *Proxy) ResetCounts() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.counts = map[string]int{}
}

// Injected returns how many times each fault was applied, by description.
func (p *Proxy) Injected() map[string]int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return maps.Clone(p.injected)
}

// Operation returns the operation named by an X-Amz-Target header value
// ("DynamoDB_20120810.GetItem" → "GetItem").
func Operation(target string) string {
	if i := strings.LastIndexByte(target, '.'); i >= 0 {
		return target[i+1:]
	}
	return target
}

// decide counts the request and returns the fault that applies, if any.
func (p *Proxy) decide(op string) (Fault, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.counts[op]++
	for _, r := range p.rules {
		if r.Op != "" && r.Op != op {
			continue
		}
		r.seen++
		if r.Nth != 0 && r.seen != r.Nth {
			continue
		}
		p.injected[r.Fault.String()]++
		return r.Fault, true
	}
	return Fault{}, false
}

func (p *Proxy) handle(w http.ResponseWriter, r *http.Request) {
	op := Operation(r.Header.Get("X-Amz-Target"))
	f, ok := p.decide(op)
	if !ok {
		p.forward(w, r, false)
		return
	}
	switch f.Kind {
	case Pass:
		p.forward(w, r, false)
	case ThroughputExceeded:
		writeAWSError(w, http.StatusBadRequest, "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException",
			"The level of configured provisioned throughput for the table was exceeded. Consider increasing your provisioning level with the UpdateTable API.")
	case Throttling:
		writeAWSError(w, http.StatusBadRequest, "com.amazon.coral.availability#ThrottlingException", "Rate exceeded")
	case InternalError:
		writeAWSError(w, http.StatusInternalServerError, "com.amazonaws.dynamodb.v20120810#InternalServerError", "Internal server error")
	case Unavailable:
		writeAWSError(w, http.StatusServiceUnavailable, "com.amazon.coral.availability#ServiceUnavailableException", "Service unavailable")
	case Delay:
		t := time.NewTimer(f.Delay)
		defer t.Stop()
		select {
		case <-t.C:
			p.forward(w, r, false)
		case <-r.Context().Done():
			// The client gave up; like a real server that noticed, answer nothing.
		}
	case Drop:
		hangUp(w)
	case DropAfterForward:
		p.forward(w, r, true)
	}
}

// forward sends r upstream and copies the answer back, or, with hangUp,
// reads the answer and closes the connection instead.
func (p *Proxy) forward(w http.ResponseWriter, r *http.Request, drop bool) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		hangUp(w)
		return
	}
	out, err := http.NewRequestWithContext(r.Context(), r.Method, p.upstream.JoinPath(r.URL.Path).String(), bytes.NewReader(body))
	if err != nil {
		hangUp(w)
		return
	}
	out.URL.RawQuery = r.URL.RawQuery
	for k, vs := range r.Header {
		out.Header[k] = vs
	}
	out.Host = r.Host // the client signed this Host
	if drop {
		// The write must land even though the client will never hear back.
		out = out.WithContext(context.WithoutCancel(r.Context()))
	}
	resp, err := p.transport.RoundTrip(out)
	if err != nil {
		hangUp(w)
		return
	}
	defer resp.Body.Close()
	respBody, err := io.ReadAll(resp.Body)
	if err != nil || drop {
		hangUp(w)
		return
	}
	for k, vs := range resp.Header {
		w.Header()[k] = vs
	}
	w.WriteHeader(resp.StatusCode)
	_, _ = w.Write(respBody)
}

// hangUp closes the client's connection without an answer.
func hangUp(w http.ResponseWriter) {
	rc := http.NewResponseController(w)
	conn, _, err := rc.Hijack()
	if err != nil {
		// Cannot hijack (never on this HTTP/1.1 server): fail loudly instead.
		writeAWSError(w, http.StatusServiceUnavailable, "com.amazon.coral.availability#ServiceUnavailableException", "connection could not be dropped")
		return
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0) // a reset, not a clean close
	}
	_ = conn.Close()
}

// writeAWSError answers in the AWS JSON 1.0 error format DynamoDB uses.
func writeAWSError(w http.ResponseWriter, status int, errType, message string) {
	body, _ := json.Marshal(map[string]string{"__type": errType, "message": message})
	w.Header().Set("Content-Type", "application/x-amz-json-1.0")
	w.Header().Set("X-Amzn-Requestid", "faults-injected")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

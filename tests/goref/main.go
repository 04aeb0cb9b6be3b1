// Command goref is the reference side of img-authz's differential tests.
//
// It reads raw HTTP requests, one JSON object per line on stdin, and prints
// for each what dockerd would do with it: whether the authorization plugin
// is consulted at all, the AuthZReq envelope the plugin receives, the route
// the daemon runs, and the query values and JSON body fields its handler
// acts on. Everything that decides those answers in dockerd is Go's
// standard library (net/http request parsing, net/url, mime, encoding/json,
// regexp), so this program uses exactly that library; the routing table,
// the version rule, the authz middleware and the handlers' parsing steps are
// a model of dockerd 20.10 ("v20") and current moby ("cur"), written for
// this project from their documented behaviour. It uses no code from moby or
// gorilla/mux, and nothing outside the standard library.
//
// The model errs on the side of accepting: where dockerd might reject a
// request for a reason that does not change what it reads (an unknown field's
// type, a route-level minimum API version), the model lets it through, so
// that the comparison with img-authz happens rather than being skipped.
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"os"
	"path"
	"regexp"
	"strconv"
	"strings"
)

type input struct {
	ID      int         `json:"id"`
	Method  string      `json:"method"`
	URI     string      `json:"uri"`
	Headers [][2]string `json:"headers"`
	Body    []byte      `json:"body"`
	// "" sends Content-Length, "none" neither Content-Length nor a body,
	// "chunked" a chunked body.
	Framing string `json:"framing"`
}

type envelope struct {
	RequestMethod  string            `json:"RequestMethod"`
	RequestURI     string            `json:"RequestUri"`
	RequestBody    []byte            `json:"RequestBody,omitempty"`
	RequestHeaders map[string]string `json:"RequestHeaders"`
}

// view is one daemon's reading of a request.
type view struct {
	Model string `json:"model"`
	// Reached: the request gets to a route handler, so the plugin is asked.
	Reached  bool      `json:"reached"`
	Envelope *envelope `json:"envelope,omitempty"`
	Route    string    `json:"route,omitempty"`
	Version  string    `json:"version,omitempty"`
	Vars     []string  `json:"vars"`
	// Acts: the handler gets past version, form and body parsing and acts
	// on what is below.
	Acts bool   `json:"acts"`
	Why  string `json:"why,omitempty"`
	// Form: r.Form as the handler reads it (form body values first), nil
	// when the handler never parses a form. Query: r.URL.Query().
	Form  url.Values  `json:"form"`
	Query url.Values  `json:"query"`
	Body  interface{} `json:"body,omitempty"`
}

type output struct {
	ID int `json:"id"`
	// JSONValid: encoding/json accepts the body as exactly one value.
	JSONValid bool    `json:"json_valid"`
	Views     []*view `json:"views"`
}

func main() {
	models := []*model{v20Model(), curModel()}
	in := bufio.NewReaderSize(os.Stdin, 1<<20)
	out := bufio.NewWriterSize(os.Stdout, 1<<20)
	defer out.Flush()
	enc := json.NewEncoder(out)
	enc.SetEscapeHTML(false)
	for {
		line, err := in.ReadBytes('\n')
		if len(bytes.TrimSpace(line)) > 0 {
			var c input
			if jerr := json.Unmarshal(line, &c); jerr != nil {
				fmt.Fprintf(os.Stderr, "goref: bad input line: %v\n", jerr)
				os.Exit(2)
			}
			o := output{ID: c.ID, JSONValid: json.Valid(c.Body)}
			for _, m := range models {
				o.Views = append(o.Views, m.run(&c))
			}
			if err := enc.Encode(&o); err != nil {
				fmt.Fprintf(os.Stderr, "goref: %v\n", err)
				os.Exit(2)
			}
			// The harness writes a batch and then reads it back; flushing
			// per line keeps the pipes from filling up on large batches.
			if in.Buffered() == 0 {
				out.Flush()
			}
		}
		if err == io.EOF {
			return
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "goref: %v\n", err)
			os.Exit(2)
		}
	}
}

// --- The HTTP server -------------------------------------------------------

// rawRequest is the request as it arrives on dockerd's socket.
func rawRequest(c *input) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: docker\r\n", c.Method, c.URI)
	for _, h := range c.Headers {
		fmt.Fprintf(&b, "%s: %s\r\n", h[0], h[1])
	}
	switch c.Framing {
	case "chunked":
		b.WriteString("Transfer-Encoding: chunked\r\n\r\n")
		if len(c.Body) > 0 {
			fmt.Fprintf(&b, "%x\r\n", len(c.Body))
			b.Write(c.Body)
			b.WriteString("\r\n")
		}
		b.WriteString("0\r\n\r\n")
	case "none":
		b.WriteString("\r\n")
	default:
		fmt.Fprintf(&b, "Content-Length: %d\r\n\r\n", len(c.Body))
		b.Write(c.Body)
	}
	return b.Bytes()
}

// validHeaders: what net/http's server checks after http.ReadRequest.
func validHeaders(h http.Header) bool {
	for k, vs := range h {
		if k == "" {
			return false
		}
		for _, c := range []byte(k) {
			if c <= ' ' || c >= 0x7f || strings.IndexByte("\"(),/:;<=>?@[\\]{}", c) >= 0 {
				return false
			}
		}
		for _, v := range vs {
			for _, c := range []byte(v) {
				if (c < ' ' && c != '\t') || c == 0x7f {
					return false
				}
			}
		}
	}
	return true
}

// --- Routing ----------------------------------------------------------------

type routeDef struct {
	method string // "" for any method (20.10's debug routes)
	tmpl   string
	label  string // img-authz's name for the route
	bare   bool   // registered without the /v{version} form
}

type compiled struct {
	routeDef
	re *regexp.Regexp
}

type model struct {
	name          string
	routes        []compiled
	minAPI        string
	maxAPI        string
	authzMaxBody  int
	v20           bool
	startBodyOkay bool // API < 1.24 may send a HostConfig to start
}

// muxRegexp turns a mux path template into the regexp mux matches the
// decoded path with: `{name}` is `[^/]+`, `{name:re}` is `re`, literal text
// is quoted, and the whole path must match.
func muxRegexp(tmpl string) *regexp.Regexp {
	var b strings.Builder
	b.WriteString("^")
	rest := tmpl
	for {
		i := strings.IndexByte(rest, '{')
		if i < 0 {
			b.WriteString(regexp.QuoteMeta(rest))
			break
		}
		b.WriteString(regexp.QuoteMeta(rest[:i]))
		j := strings.IndexByte(rest[i:], '}') + i
		v := rest[i+1 : j]
		pat := "[^/]+"
		if k := strings.IndexByte(v, ':'); k >= 0 {
			pat = v[k+1:]
		}
		b.WriteString("(" + pat + ")")
		rest = rest[j+1:]
	}
	b.WriteString("$")
	return regexp.MustCompile(b.String())
}

const versionMatcher = "/v{version:[0-9.]+}"

func compile(defs []routeDef) []compiled {
	var out []compiled
	for _, d := range defs {
		if !d.bare {
			out = append(out, compiled{d, muxRegexp(versionMatcher + d.tmpl)})
		}
		out = append(out, compiled{d, muxRegexp(d.tmpl)})
	}
	return out
}

func rd(method, tmpl, label string) routeDef {
	return routeDef{method: method, tmpl: tmpl, label: label}
}

// Routers in registration order; entries marked with the model they are
// missing from are added by the model constructors.
func commonRoutes(v20 bool) []routeDef {
	r := []routeDef{
		// checkpoint
		rd("GET", "/containers/{name:.*}/checkpoints", "GET /containers/{name}/checkpoints"),
		rd("POST", "/containers/{name:.*}/checkpoints", "POST /containers/{name}/checkpoints"),
		rd("DELETE", "/containers/{name}/checkpoints/{checkpoint}", "DELETE /containers/{name}/checkpoints/{checkpoint}"),
		// container
		rd("HEAD", "/containers/{name:.*}/archive", "HEAD /containers/{name}/archive"),
		rd("GET", "/containers/json", "GET /containers/json"),
		rd("GET", "/containers/{name:.*}/export", "GET /containers/{name}/export"),
		rd("GET", "/containers/{name:.*}/changes", "GET /containers/{name}/changes"),
		rd("GET", "/containers/{name:.*}/json", "GET /containers/{name}/json"),
		rd("GET", "/containers/{name:.*}/top", "GET /containers/{name}/top"),
		rd("GET", "/containers/{name:.*}/logs", "GET /containers/{name}/logs"),
		rd("GET", "/containers/{name:.*}/stats", "GET /containers/{name}/stats"),
		rd("GET", "/containers/{name:.*}/attach/ws", "GET /containers/{name}/attach/ws"),
		rd("GET", "/exec/{id:.*}/json", "GET /exec/{id}/json"),
		rd("GET", "/containers/{name:.*}/archive", "GET /containers/{name}/archive"),
		rd("POST", "/containers/create", "POST /containers/create"),
		rd("POST", "/containers/{name:.*}/kill", "POST /containers/{name}/kill"),
		rd("POST", "/containers/{name:.*}/pause", "POST /containers/{name}/pause"),
		rd("POST", "/containers/{name:.*}/unpause", "POST /containers/{name}/unpause"),
		rd("POST", "/containers/{name:.*}/restart", "POST /containers/{name}/restart"),
		rd("POST", "/containers/{name:.*}/start", "POST /containers/{name}/start"),
		rd("POST", "/containers/{name:.*}/stop", "POST /containers/{name}/stop"),
		rd("POST", "/containers/{name:.*}/wait", "POST /containers/{name}/wait"),
		rd("POST", "/containers/{name:.*}/resize", "POST /containers/{name}/resize"),
		rd("POST", "/containers/{name:.*}/attach", "POST /containers/{name}/attach"),
	}
	if v20 {
		r = append(r, rd("POST", "/containers/{name:.*}/copy", "POST /containers/{name}/copy"))
	}
	r = append(r,
		rd("POST", "/containers/{name:.*}/exec", "POST /containers/{name}/exec"),
		rd("POST", "/exec/{name:.*}/start", "POST /exec/{name}/start"),
		rd("POST", "/exec/{name:.*}/resize", "POST /exec/{name}/resize"),
		rd("POST", "/containers/{name:.*}/rename", "POST /containers/{name}/rename"),
		rd("POST", "/containers/{name:.*}/update", "POST /containers/{name}/update"),
		rd("POST", "/containers/prune", "POST /containers/prune"),
		rd("POST", "/commit", "POST /commit"),
		rd("PUT", "/containers/{name:.*}/archive", "PUT /containers/{name}/archive"),
		rd("DELETE", "/containers/{name:.*}", "DELETE /containers/{name}"),
		// image
		rd("GET", "/images/json", "GET /images/json"),
		rd("GET", "/images/search", "GET /images/search"),
		rd("GET", "/images/get", "GET /images/get"),
		rd("GET", "/images/{name:.*}/get", "GET /images/{name}/get"),
		rd("GET", "/images/{name:.*}/history", "GET /images/{name}/history"),
		rd("GET", "/images/{name:.*}/json", "GET /images/{name}/json"),
	)
	if !v20 {
		r = append(r, rd("GET", "/images/{name:.*}/attestations", "GET /images/{name}/attestations"))
	}
	r = append(r,
		rd("POST", "/images/load", "POST /images/load"),
		rd("POST", "/images/create", "POST /images/create"),
		rd("POST", "/images/{name:.*}/push", "POST /images/{name}/push"),
		rd("POST", "/images/{name:.*}/tag", "POST /images/{name}/tag"),
		rd("POST", "/images/prune", "POST /images/prune"),
		rd("DELETE", "/images/{name:.*}", "DELETE /images/{name}"),
		// system
		rd("OPTIONS", "/{anyroute:.*}", "OPTIONS /{any}"),
		rd("GET", "/_ping", "GET /_ping"),
		rd("HEAD", "/_ping", "HEAD /_ping"),
		rd("GET", "/events", "GET /events"),
		rd("GET", "/info", "GET /info"),
		rd("GET", "/version", "GET /version"),
		rd("GET", "/system/df", "GET /system/df"),
		rd("POST", "/auth", "POST /auth"),
		// volume
		rd("GET", "/volumes", "GET /volumes"),
		rd("GET", "/volumes/{name:.*}", "GET /volumes/{name}"),
		rd("POST", "/volumes/create", "POST /volumes/create"),
		rd("POST", "/volumes/prune", "POST /volumes/prune"),
	)
	if !v20 {
		r = append(r, rd("PUT", "/volumes/{name:.*}", "PUT /volumes/{name}"))
	}
	r = append(r,
		rd("DELETE", "/volumes/{name:.*}", "DELETE /volumes/{name}"),
		// build
		rd("POST", "/build", "POST /build"),
		rd("POST", "/build/prune", "POST /build/prune"),
		rd("POST", "/build/cancel", "POST /build/cancel"),
		// session
		rd("POST", "/session", "POST /session"),
		// swarm
		rd("POST", "/swarm/init", "POST /swarm/init"),
		rd("POST", "/swarm/join", "POST /swarm/join"),
		rd("POST", "/swarm/leave", "POST /swarm/leave"),
		rd("GET", "/swarm", "GET /swarm"),
		rd("GET", "/swarm/unlockkey", "GET /swarm/unlockkey"),
		rd("POST", "/swarm/update", "POST /swarm/update"),
		rd("POST", "/swarm/unlock", "POST /swarm/unlock"),
		rd("GET", "/services", "GET /services"),
		rd("GET", "/services/{id}", "GET /services/{id}"),
		rd("POST", "/services/create", "POST /services/create"),
		rd("POST", "/services/{id}/update", "POST /services/{id}/update"),
		rd("DELETE", "/services/{id}", "DELETE /services/{id}"),
		rd("GET", "/services/{id}/logs", "GET /services/{id}/logs"),
		rd("GET", "/nodes", "GET /nodes"),
		rd("GET", "/nodes/{id}", "GET /nodes/{id}"),
		rd("DELETE", "/nodes/{id}", "DELETE /nodes/{id}"),
		rd("POST", "/nodes/{id}/update", "POST /nodes/{id}/update"),
		rd("GET", "/tasks", "GET /tasks"),
		rd("GET", "/tasks/{id}", "GET /tasks/{id}"),
		rd("GET", "/tasks/{id}/logs", "GET /tasks/{id}/logs"),
		rd("GET", "/secrets", "GET /secrets"),
		rd("POST", "/secrets/create", "POST /secrets/create"),
		rd("DELETE", "/secrets/{id}", "DELETE /secrets/{id}"),
		rd("GET", "/secrets/{id}", "GET /secrets/{id}"),
		rd("POST", "/secrets/{id}/update", "POST /secrets/{id}/update"),
		rd("GET", "/configs", "GET /configs"),
		rd("POST", "/configs/create", "POST /configs/create"),
		rd("DELETE", "/configs/{id}", "DELETE /configs/{id}"),
		rd("GET", "/configs/{id}", "GET /configs/{id}"),
		rd("POST", "/configs/{id}/update", "POST /configs/{id}/update"),
		// plugin
		rd("GET", "/plugins", "GET /plugins"),
		rd("GET", "/plugins/{name:.*}/json", "GET /plugins/{name}/json"),
		rd("GET", "/plugins/privileges", "GET /plugins/privileges"),
		rd("DELETE", "/plugins/{name:.*}", "DELETE /plugins/{name}"),
		rd("POST", "/plugins/{name:.*}/enable", "POST /plugins/{name}/enable"),
		rd("POST", "/plugins/{name:.*}/disable", "POST /plugins/{name}/disable"),
		rd("POST", "/plugins/pull", "POST /plugins/pull"),
		rd("POST", "/plugins/{name:.*}/push", "POST /plugins/{name}/push"),
		rd("POST", "/plugins/{name:.*}/upgrade", "POST /plugins/{name}/upgrade"),
		rd("POST", "/plugins/{name:.*}/set", "POST /plugins/{name}/set"),
		rd("POST", "/plugins/create", "POST /plugins/create"),
		// distribution
		rd("GET", "/distribution/{name:.*}/json", "GET /distribution/{name}/json"),
	)
	return r
}

func networkRoutes() []routeDef {
	return []routeDef{
		rd("GET", "/networks", "GET /networks"),
		rd("GET", "/networks/", "GET /networks/"),
		rd("GET", "/networks/{id:.+}", "GET /networks/{id}"),
		rd("POST", "/networks/create", "POST /networks/create"),
		rd("POST", "/networks/{id:.*}/connect", "POST /networks/{id}/connect"),
		rd("POST", "/networks/{id:.*}/disconnect", "POST /networks/{id}/disconnect"),
		rd("POST", "/networks/prune", "POST /networks/prune"),
		rd("DELETE", "/networks/{id:.*}", "DELETE /networks/{id}"),
	}
}

func debugRoutes(v20 bool) []routeDef {
	var r []routeDef
	for _, p := range []string{"/debug/vars", "/debug/pprof/", "/debug/pprof/cmdline", "/debug/pprof/profile",
		"/debug/pprof/symbol", "/debug/pprof/trace", "/debug/pprof/{name}"} {
		if v20 {
			// 20.10 registers these with m.Path only: any method, no version form.
			r = append(r, routeDef{tmpl: p, label: "/debug/*", bare: true})
		} else {
			r = append(r, rd("GET", p, "/debug/*"))
		}
	}
	return r
}

func v20Model() *model {
	defs := commonRoutes(true)
	defs = append(defs, rd("POST", "/grpc", "POST /grpc"))
	defs = append(defs, networkRoutes()...)
	defs = append(defs, debugRoutes(true)...)
	return &model{name: "v20", routes: compile(defs), minAPI: "1.12", maxAPI: "1.41",
		authzMaxBody: 1048576, v20: true, startBodyOkay: true}
}

func curModel() *model {
	defs := commonRoutes(false)
	defs = append(defs, networkRoutes()...)
	defs = append(defs, debugRoutes(false)...)
	defs = append(defs, rd("POST", "/grpc", "POST /grpc"))
	// The lowest minimum an operator can configure, so as to accept most.
	return &model{name: "cur", routes: compile(defs), minAPI: "1.24", maxAPI: "1.56",
		authzMaxBody: 4 << 20}
}

// cleanPath is mux's: path.Clean, keeping a trailing slash.
func cleanPath(p string) string {
	if p == "" {
		return "/"
	}
	if p[0] != '/' {
		p = "/" + p
	}
	np := path.Clean(p)
	if p[len(p)-1] == '/' && np != "/" {
		np += "/"
	}
	return np
}

// versionCompare: moby's versions.compare, numeric per dot-separated part.
func versionCompare(a, b string) int {
	pa, pb := strings.Split(a, "."), strings.Split(b, ".")
	n := len(pa)
	if len(pb) > n {
		n = len(pb)
	}
	for i := 0; i < n; i++ {
		var x, y int
		if i < len(pa) {
			x, _ = strconv.Atoi(pa[i])
		}
		if i < len(pb) {
			y, _ = strconv.Atoi(pb[i])
		}
		if x != y {
			if x < y {
				return -1
			}
			return 1
		}
	}
	return 0
}

// --- One request through one daemon model ---------------------------------

func (m *model) run(c *input) *view {
	v := &view{Model: m.name, Vars: []string{}}
	req, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(rawRequest(c))))
	if err != nil {
		v.Why = "400 from net/http: " + err.Error()
		return v
	}
	if !validHeaders(req.Header) {
		v.Why = "400 from net/http: invalid header"
		return v
	}
	if req.Method == "OPTIONS" && req.RequestURI == "*" {
		v.Why = "OPTIONS * is answered by net/http"
		return v
	}
	p := req.URL.Path
	if cleanPath(p) != p {
		v.Why = "301 from mux: unclean path"
		return v
	}
	var hit *compiled
	var sub []string
	for i := range m.routes {
		r := &m.routes[i]
		// A route whose method differs never matches, whatever its path
		// (mux then tries the next route); checking it first is faster.
		if r.method != "" && r.method != req.Method {
			continue
		}
		s := r.re.FindStringSubmatch(p)
		if s == nil {
			continue
		}
		hit, sub = r, s
		break
	}
	if hit == nil {
		v.Why = "404 from mux"
		return v
	}
	v.Route = hit.label
	vars := sub[1:]
	if !hit.bare && strings.HasPrefix(hit.re.String(), "^/v(") {
		v.Version, vars = vars[0], vars[1:]
	}
	v.Vars = append(v.Vars, vars...)

	body, err := io.ReadAll(io.LimitReader(req.Body, 64<<20))
	if err != nil {
		v.Why = "400 reading body: " + err.Error()
		return v
	}
	env, err := m.authz(req, body)
	if err != nil {
		v.Why = "authz middleware: " + err.Error()
		return v
	}
	v.Reached, v.Envelope = true, env

	// The version middleware runs inside authz.
	ver := v.Version
	if ver == "" {
		ver = m.maxAPI
	}
	if versionCompare(ver, m.minAPI) < 0 || versionCompare(ver, m.maxAPI) > 0 {
		v.Why = "400: API version out of range"
		return v
	}
	v.Query = req.URL.Query()
	req.Body = io.NopCloser(bytes.NewReader(body))
	h := handler{m: m, r: req, body: body, version: ver, vars: v.Vars}
	v.Body, err = h.serve(hit.label)
	v.Form = req.Form
	if err != nil {
		v.Why = "handler rejects: " + err.Error()
		v.Body = nil
		return v
	}
	v.Acts = true
	return v
}

var authEndpoint = regexp.MustCompile(`^[^\/]*\/(v\d[\d\.]*\/)?auth.*`)

// authz is the authorization middleware's request phase: what the plugin
// is sent, or the error the middleware fails the request with.
func (m *model) authz(r *http.Request, body []byte) (*envelope, error) {
	env := &envelope{RequestMethod: r.Method, RequestURI: r.RequestURI, RequestHeaders: map[string]string{}}
	for k, vs := range r.Header {
		if strings.EqualFold(k, "Authorization") || strings.EqualFold(k, "X-Registry-Config") || strings.EqualFold(k, "X-Registry-Auth") {
			continue
		}
		for _, val := range vs {
			env.RequestHeaders[k] = val
		}
	}
	ct, _, ctErr := mime.ParseMediaType(r.Header.Get("Content-Type"))
	isJSON := ctErr == nil && ct == "application/json"
	if m.v20 {
		if !strings.HasSuffix(r.RequestURI, "/auth") && isJSON && r.ContentLength > 0 && r.ContentLength < int64(m.authzMaxBody) {
			env.RequestBody = body
		}
		return env, nil
	}
	u, err := url.Parse(r.RequestURI)
	if err != nil || authEndpoint.MatchString(u.Path) || !isJSON {
		return env, nil
	}
	if len(body) > m.authzMaxBody {
		return nil, errors.New("request body too large for authorization plugin")
	}
	env.RequestBody = body
	return env, nil
}

// --- Handlers ---------------------------------------------------------------

type handler struct {
	m       *model
	r       *http.Request
	body    []byte
	version string
	vars    []string
}

// parseForm is moby's httputils.ParseForm: errors from mime are ignored.
func (h *handler) parseForm() error {
	if err := h.r.ParseForm(); err != nil && !strings.HasPrefix(err.Error(), "mime:") {
		return err
	}
	return nil
}

// checkForJSON is moby's httputils.CheckForJSON.
func (h *handler) checkForJSON() error {
	ct := h.r.Header.Get("Content-Type")
	if ct == "" && h.r.ContentLength == 0 {
		return nil
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil || mt != "application/json" {
		return fmt.Errorf("unsupported Content-Type %q", ct)
	}
	return nil
}

// decodeV20 is json.NewDecoder(r.Body).Decode: one value, the rest ignored.
func (h *handler) decodeV20(out interface{}) error {
	return json.NewDecoder(bytes.NewReader(h.body)).Decode(out)
}

// readJSON is current moby's httputils.ReadJSON.
func (h *handler) readJSON(out interface{}) error {
	if err := h.checkForJSON(); err != nil {
		return err
	}
	if h.r.ContentLength == 0 {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(h.body))
	if err := dec.Decode(out); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("unexpected content after JSON")
	}
	return nil
}

// decodeBody decodes a JSON body the way the route's handler does in this
// model: 20.10 with or without CheckForJSON first, current with ReadJSON.
func (h *handler) decodeBody(out interface{}, v20CheckJSON bool) error {
	if h.m.v20 {
		if v20CheckJSON {
			if err := h.checkForJSON(); err != nil {
				return err
			}
		}
		return h.decodeV20(out)
	}
	return h.readJSON(out)
}

func (h *handler) serve(label string) (interface{}, error) {
	switch label {
	case "POST /images/create", "POST /images/{name}/tag", "POST /images/{name}/push",
		"POST /plugins/create", "POST /plugins/{name}/enable", "POST /plugins/{name}/disable",
		"DELETE /plugins/{name}", "POST /plugins/{name}/push":
		return nil, h.parseForm()
	case "POST /build":
		// No ParseForm: the first FormValue parses urlencoded and multipart
		// bodies and ignores every error.
		_ = h.r.FormValue("dockerfile")
		return nil, nil
	case "POST /commit":
		if err := h.parseForm(); err != nil {
			return nil, err
		}
		var w wrapperV20
		if h.m.v20 {
			if err := h.checkForJSON(); err != nil {
				return nil, err
			}
			if err := h.decodeV20(&w); err != nil && err != io.EOF {
				return nil, err
			}
			return nil, nil
		}
		return nil, h.readJSON(&w)
	case "POST /containers/create":
		return h.containerCreate()
	case "POST /containers/{name}/start":
		return h.containerStart()
	case "POST /containers/{name}/update":
		if err := h.parseForm(); err != nil {
			return nil, err
		}
		var u struct{ Resources }
		if err := h.decodeBody(&u, true); err != nil {
			return nil, err
		}
		return map[string]interface{}{"host": resourcesView(&u.Resources)}, nil
	case "POST /containers/{name}/exec":
		if err := h.parseForm(); err != nil {
			return nil, err
		}
		var e struct {
			User       string
			Privileged bool
		}
		if err := h.decodeBody(&e, true); err != nil {
			return nil, err
		}
		return map[string]interface{}{"privileged": e.Privileged, "user": e.User}, nil
	case "POST /volumes/create":
		if err := h.parseForm(); err != nil {
			return nil, err
		}
		var b struct {
			Name       string
			Driver     string
			DriverOpts map[string]string
		}
		if err := h.decodeBody(&b, true); err != nil {
			return nil, err
		}
		return map[string]interface{}{"name": b.Name, "driver": b.Driver, "driver_opts": strMap(b.DriverOpts)}, nil
	case "POST /services/create", "POST /services/{id}/update":
		var s ServiceSpec
		if err := h.decodeBody(&s, false); err != nil {
			return nil, err
		}
		return serviceView(&s)
	case "POST /plugins/pull", "POST /plugins/{name}/upgrade":
		if err := h.parseForm(); err != nil {
			return nil, err
		}
		var privileges interface{}
		if h.m.v20 {
			dec := json.NewDecoder(bytes.NewReader(h.body))
			if err := dec.Decode(&privileges); err != nil {
				return nil, err
			}
			if dec.More() {
				return nil, errors.New("trailing data")
			}
			return nil, nil
		}
		return nil, h.readJSON(&privileges)
	case "POST /plugins/{name}/set":
		var args []string
		if h.m.v20 {
			return nil, h.decodeV20(&args)
		}
		return nil, h.readJSON(&args)
	}
	return nil, nil
}

func (h *handler) containerCreate() (interface{}, error) {
	if err := h.parseForm(); err != nil {
		return nil, err
	}
	if err := h.checkForJSON(); err != nil {
		return nil, err
	}
	var cfg *Config
	var hc *HostConfig
	if h.m.v20 {
		var w wrapperV20
		if err := h.decodeV20(&w); err != nil {
			return nil, err
		}
		cfg, hc = w.Config, w.hostConfig()
	} else {
		var w createRequest
		var out interface{} = &w
		dec := json.NewDecoder(bytes.NewReader(h.body))
		if err := dec.Decode(&out); err != nil {
			return nil, err
		}
		if dec.More() {
			return nil, errors.New("unexpected content after JSON")
		}
		cfg, hc = w.Config, w.HostConfig
	}
	if cfg == nil {
		return nil, errors.New("config cannot be empty in order to create a container")
	}
	return map[string]interface{}{"image": cfg.Image, "user": cfg.User, "host": hostView(hc)}, nil
}

func (h *handler) containerStart() (interface{}, error) {
	var out interface{}
	if h.r.ContentLength > 7 || h.r.ContentLength == -1 {
		if !h.m.startBodyOkay || versionCompare(h.version, "1.24") >= 0 {
			return nil, errors.New("starting container with non-empty request body was deprecated")
		}
		if err := h.checkForJSON(); err != nil {
			return nil, err
		}
		var w wrapperV20
		if err := h.decodeV20(&w); err != nil {
			return nil, err
		}
		out = map[string]interface{}{"host": hostView(w.hostConfig())}
	}
	return out, h.parseForm()
}

// --- dockerd's request types, reduced to the fields img-authz checks ------
//
// Fields img-authz does not read are left out: their only effect would be
// more requests rejected for a bad type, and the model should accept rather
// than skip a comparison. No two fields of Config, HostConfig and Resources
// fold to the same name, so leaving some out does not change which field a
// key lands in.

// StrSlice: a JSON string or an array of strings (strslice.StrSlice).
type StrSlice []string

func (e *StrSlice) UnmarshalJSON(b []byte) error {
	if len(b) == 0 {
		return nil
	}
	p := make([]string, 0, 1)
	if err := json.Unmarshal(b, &p); err != nil {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		p = append(p, s)
	}
	*e = p
	return nil
}

type Config struct {
	User  string
	Image string
}

type DeviceMapping struct{ PathOnHost string }

type DeviceRequest struct{ Driver string }

type Resources struct {
	CgroupParent      string
	Devices           []DeviceMapping
	DeviceCgroupRules []string
	DeviceRequests    []DeviceRequest
}

type Driver struct {
	Name    string
	Options map[string]string
}

type VolumeOptions struct{ DriverConfig *Driver }

type Mount struct {
	Type          string
	Source        string
	Target        string
	VolumeOptions *VolumeOptions
}

type HostConfig struct {
	Binds        []string
	NetworkMode  string
	VolumeDriver string
	VolumesFrom  []string
	CapAdd       StrSlice
	CgroupnsMode string
	IpcMode      string
	Cgroup       string
	PidMode      string
	Privileged   bool
	SecurityOpt  []string
	UTSMode      string
	UsernsMode   string
	Sysctls      map[string]string
	Runtime      string
	Resources
	Mounts        []Mount
	MaskedPaths   []string
	ReadonlyPaths []string
}

// wrapperV20 is 20.10's ContainerConfigWrapper: HostConfig fields may also
// sit at the top level of the body.
type wrapperV20 struct {
	*Config
	InnerHostConfig *HostConfig `json:"HostConfig,omitempty"`
	*HostConfig
}

// hostConfig is 20.10's getHostConfig, without the blank NetworkMode
// becoming "default" (the same thing to dockerd).
func (w *wrapperV20) hostConfig() *HostConfig {
	hc := w.HostConfig
	if hc == nil && w.InnerHostConfig != nil {
		hc = w.InnerHostConfig
	} else if w.InnerHostConfig != nil {
		if hc.VolumeDriver != "" && w.InnerHostConfig.VolumeDriver == "" {
			w.InnerHostConfig.VolumeDriver = hc.VolumeDriver
		}
		hc = w.InnerHostConfig
	}
	return hc
}

// createRequest is current moby's container.CreateRequest.
type createRequest struct {
	*Config
	HostConfig *HostConfig `json:"HostConfig,omitempty"`
}

type ServiceSpec struct {
	TaskTemplate struct {
		ContainerSpec *struct {
			Image         string
			Mounts        []Mount
			CapabilityAdd []string
			Sysctls       map[string]string
			Privileges    *struct {
				SELinuxContext *struct {
					Disable                 bool
					User, Role, Type, Level string
				}
				Seccomp *struct {
					Mode    string
					Profile []byte
				}
				AppArmor *struct{ Mode string }
			}
		}
		PluginSpec *struct {
			Remote string `json:"remote"`
		}
		Runtime  string
		Networks []struct{ Target string }
	}
	Networks []struct{ Target string }
}

// --- Views: the fields, named as img-authz names them ---------------------

func strs(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func strMap(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}

func mountsView(ms []Mount) []interface{} {
	out := []interface{}{}
	for _, m := range ms {
		var drv string
		opts := map[string]string{}
		if m.VolumeOptions != nil && m.VolumeOptions.DriverConfig != nil {
			drv = m.VolumeOptions.DriverConfig.Name
			opts = strMap(m.VolumeOptions.DriverConfig.Options)
		}
		// A zero mount (a null element) is refused by dockerd's validation.
		if m.Type == "" && m.Source == "" && m.Target == "" && drv == "" && len(opts) == 0 {
			continue
		}
		out = append(out, map[string]interface{}{"typ": m.Type, "source": m.Source, "target": m.Target,
			"volume_driver": drv, "volume_driver_opts": opts})
	}
	return out
}

func resourcesView(r *Resources) map[string]interface{} {
	devices, requests := []string{}, []string{}
	for _, d := range r.Devices {
		if d.PathOnHost != "" {
			devices = append(devices, d.PathOnHost)
		}
	}
	for _, d := range r.DeviceRequests {
		if d.Driver != "" {
			requests = append(requests, d.Driver)
		}
	}
	return map[string]interface{}{"devices": devices, "device_requests": requests,
		"device_cgroup_rules": strs(r.DeviceCgroupRules), "cgroup_parent": r.CgroupParent}
}

func hostView(hc *HostConfig) map[string]interface{} {
	if hc == nil {
		hc = &HostConfig{}
	}
	v := resourcesView(&hc.Resources)
	v["privileged"] = hc.Privileged
	v["binds"] = strs(hc.Binds)
	v["mounts"] = mountsView(hc.Mounts)
	v["volumes_from"] = strs(hc.VolumesFrom)
	v["volume_driver"] = hc.VolumeDriver
	v["network_mode"] = hc.NetworkMode
	v["pid_mode"] = hc.PidMode
	v["ipc_mode"] = hc.IpcMode
	v["uts_mode"] = hc.UTSMode
	v["userns_mode"] = hc.UsernsMode
	v["cgroupns_mode"] = hc.CgroupnsMode
	v["cgroup"] = hc.Cgroup
	v["cap_add"] = strs(hc.CapAdd)
	v["security_opt"] = strs(hc.SecurityOpt)
	v["sysctls"] = strMap(hc.Sysctls)
	v["runtime"] = hc.Runtime
	// Non-nil (even empty) replaces dockerd's defaults.
	v["system_paths"] = hc.MaskedPaths != nil || hc.ReadonlyPaths != nil
	return v
}

func serviceView(s *ServiceSpec) (map[string]interface{}, error) {
	tt := &s.TaskTemplate
	networks := []string{}
	for _, n := range s.Networks {
		networks = append(networks, n.Target)
	}
	for _, n := range tt.Networks {
		networks = append(networks, n.Target)
	}
	v := map[string]interface{}{"image": "", "plugin_remote": nil, "security_opt": []string{},
		"mounts": []interface{}{}, "cap_add": []string{}, "sysctls": map[string]string{},
		"networks": networks}
	// ServiceSpecToGRPC: the exact runtime string picks a container (a
	// PluginSpec is ignored) or a plugin; anything else is an error.
	switch tt.Runtime {
	case "", "container":
	case "plugin":
		v["plugin_remote"] = ""
		if tt.PluginSpec != nil {
			v["plugin_remote"] = tt.PluginSpec.Remote
		}
	default:
		return nil, errors.New("unsupported runtime")
	}
	if cs := tt.ContainerSpec; cs != nil {
		v["image"] = cs.Image
		v["mounts"] = mountsView(cs.Mounts)
		v["cap_add"] = strs(cs.CapabilityAdd)
		v["sysctls"] = strMap(cs.Sysctls)
		opts := []string{}
		if p := cs.Privileges; p != nil {
			if se := p.SELinuxContext; se != nil {
				if se.Disable {
					opts = append(opts, "label=disable")
				}
				// executor/container: each becomes a label option.
				for _, kv := range [][2]string{{"user", se.User}, {"role", se.Role}, {"type", se.Type}, {"level", se.Level}} {
					if kv[1] != "" {
						opts = append(opts, "label="+kv[0]+":"+kv[1])
					}
				}
			}
			if p.Seccomp != nil && p.Seccomp.Mode == "custom" {
				// executor/container: the profile's bytes become the option.
				opts = append(opts, "seccomp="+string(p.Seccomp.Profile))
			} else if p.Seccomp != nil && p.Seccomp.Mode != "" && p.Seccomp.Mode != "default" {
				opts = append(opts, "seccomp="+p.Seccomp.Mode)
			}
			if p.AppArmor != nil && p.AppArmor.Mode != "" && p.AppArmor.Mode != "default" {
				opts = append(opts, "apparmor="+p.AppArmor.Mode)
			}
		}
		v["security_opt"] = opts
	}
	return v, nil
}

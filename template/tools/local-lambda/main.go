// Command local-lambda runs the function on this machine as its trigger does
// in AWS, for `mise run serve` and `mise run start:native`: it starts
// build/bootstrap under the Lambda Runtime Interface Emulator (aws-lambda-rie),
// and in front of it serves either
//
//   - real HTTP (-trigger http-api or function-url): each request becomes a
//     payload format 2.0 event, built as API Gateway's HTTP API or a Lambda
//     Function URL builds it, and the function's result becomes the HTTP
//     response as that service maps it; or
//   - the emulator's own invoke endpoint (-trigger none), for events/ files
//     and `mise run invoke`.
//
// With -cors-origins it answers browsers' CORS preflight requests and adds
// the Access-Control-Allow-* headers as the service does with the IaC's CORS
// settings (the HTTP API's CorsConfiguration, a Function URL's Cors).
//
// With -watch it rebuilds on save (the -build command) and restarts the
// function; requests that arrive meanwhile wait for the new build, and a
// failed build keeps the last good one serving.
//
// Written here rather than reused: the SAM CLI's local start-api needs Docker and a SAM
// template, and has no Function URLs; cargo lambda watch serves only a cargo
// project; serverless-offline needs Node and the Serverless Framework; the
// Lambda Web Adapter converts the other way (events to HTTP). Go is already
// every project's tool (mise builds the emulator with it), and this uses the
// standard library and fsnotify alone.
package main

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/fsnotify/fsnotify"
)

func main() {
	var cfg config
	flag.StringVar(&cfg.listen, "listen", "127.0.0.1:3000", "address to serve on")
	flag.StringVar(&cfg.trigger, "trigger", "http-api", "http-api, function-url, or none (the emulator's invoke endpoint)")
	flag.StringVar(&cfg.routes, "routes", "", "the HTTP API's route keys, comma-separated (e.g. \"GET /hello,GET /goodbye\")")
	flag.StringVar(&cfg.region, "region", envOr("AWS_REGION", envOr("DEFAULT_AWS_REGION", "us-east-1")), "the region in domain names")
	flag.StringVar(&cfg.rie, "rie", "aws-lambda-rie", "the Runtime Interface Emulator")
	flag.StringVar(&cfg.bootstrap, "bootstrap", "build/bootstrap", "the function's executable")
	flag.StringVar(&cfg.apiAddress, "runtime-api", "", "address of the emulator's Runtime API (default: a free port)")
	flag.StringVar(&cfg.build, "build", "scripts/build-bootstrap build/bootstrap", "with -watch: the command that rebuilds the bootstrap")
	flag.StringVar(&cfg.watch, "watch", "", "comma-separated files and folders whose changes rebuild and restart the function")
	flag.StringVar(&cfg.cors.origins, "cors-origins", "", "CORS: the origins browsers may call from, comma-separated, or * (default: no CORS)")
	flag.StringVar(&cfg.cors.methods, "cors-methods", "GET", "CORS: the methods allowed, comma-separated")
	flag.StringVar(&cfg.cors.headers, "cors-headers", "content-type", "CORS: the request headers allowed, comma-separated")
	flag.IntVar(&cfg.cors.maxAge, "cors-max-age", 300, "CORS: seconds a browser may keep a preflight's answer")
	eventFor := flag.String("event-for", "", "print the event this trigger (http-api, function-url, sqs, schedule) sends with -body, and exit")
	body := flag.String("body", "", "with -event-for: the body (an SQS message's, a Scheduled Event's detail, or GET /hello's)")
	count := flag.Int("count", 1, "with -event-for sqs: records in the batch")
	source := flag.String("source-arn", "", "with -event-for: the queue's or the schedule's ARN")
	flag.Parse()
	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
	if *eventFor != "" {
		event, err := makeEvent(*eventFor, *body, *count, *source, cfg)
		if err != nil {
			fmt.Fprintln(os.Stderr, "error:", err)
			os.Exit(1)
		}
		fmt.Println(string(event))
		return
	}
	if err := run(cfg, logger); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}

type config struct {
	listen, trigger, routes, region, rie, bootstrap, apiAddress, build, watch string
	cors                                                                      corsConfig
}

// corsConfig is the service's CORS settings; no origins: no CORS.
type corsConfig struct {
	origins, methods, headers string
	maxAge                    int
}

// allowedOrigin is the Access-Control-Allow-Origin the service answers an
// Origin with: * when any origin may call, the origin when it is listed
// (origins compare in any letter case), none otherwise.
func (c corsConfig) allowedOrigin(origin string) (string, bool) {
	if origin == "" {
		return "", false
	}
	for _, o := range strings.Split(c.origins, ",") {
		o = strings.TrimSpace(o)
		if o == "*" {
			return "*", true
		}
		if o != "" && strings.EqualFold(o, origin) {
			return origin, true
		}
	}
	return "", false
}

func envOr(name, fallback string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return fallback
}

func run(cfg config, logger *slog.Logger) error {
	gw, err := newGateway(cfg.trigger, cfg.routes, cfg.region)
	if err != nil {
		return err
	}
	gw.cors = cfg.cors
	fn := &function{rie: cfg.rie, bootstrap: cfg.bootstrap, apiAddress: cfg.apiAddress, logger: logger}
	gw.fn = fn
	listener, err := net.Listen("tcp", cfg.listen)
	if err != nil {
		return fmt.Errorf("-listen %s: %w", cfg.listen, err)
	}
	_, port, _ := net.SplitHostPort(listener.Addr().String())
	gw.port = port
	fn.mu.Lock()
	err = fn.start()
	fn.mu.Unlock()
	if err != nil {
		return err
	}
	defer fn.stop()
	if cfg.watch != "" {
		w, err := watch(strings.Split(cfg.watch, ","), func() { fn.rebuild(cfg.build) }, logger)
		if err != nil {
			return err
		}
		defer w.Close()
	}
	server := &http.Server{Handler: gw, ReadHeaderTimeout: 10 * time.Second}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = server.Shutdown(shutdown)
	}()
	gw.announce(listener.Addr().String())
	if err := server.Serve(listener); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// --- the function under the emulator ---------------------------------------

// function is build/bootstrap under aws-lambda-rie. The emulator runs one
// invocation at a time (a second concurrent one crashes it), so mu queues
// them, and a rebuild holds it too: requests wait for the new build.
type function struct {
	mu         sync.Mutex
	rie        string
	bootstrap  string
	apiAddress string
	logger     *slog.Logger
	cmd        *exec.Cmd
	exited     chan struct{}
	invokeURL  string
}

func freeAddress() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// start runs the emulator; the caller holds mu.
func (f *function) start() error {
	invokeAddress, err := freeAddress()
	if err != nil {
		return err
	}
	apiAddress := f.apiAddress
	if apiAddress == "" {
		if apiAddress, err = freeAddress(); err != nil {
			return err
		}
	}
	cmd := exec.Command(f.rie, "--runtime-interface-emulator-address", invokeAddress,
		"--runtime-api-address", apiAddress, f.bootstrap)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting the emulator (-rie %s): %w", f.rie, err)
	}
	f.cmd, f.exited = cmd, make(chan struct{})
	go func(done chan struct{}) { _ = cmd.Wait(); close(done) }(f.exited)
	f.invokeURL = "http://" + invokeAddress + "/2015-03-31/functions/function/invocations"
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		select {
		case <-f.exited:
			return fmt.Errorf("the emulator (%s) exited at start", f.rie)
		default:
		}
		if c, err := net.Dial("tcp", invokeAddress); err == nil {
			c.Close()
			return nil
		}
	}
	return fmt.Errorf("the emulator did not listen on %s within 10s", invokeAddress)
}

// stop ends the emulator and the function; the caller holds mu (or exits).
func (f *function) stop() {
	if f.cmd == nil {
		return
	}
	_ = f.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-f.exited:
	case <-time.After(5 * time.Second):
		_ = f.cmd.Process.Kill()
		<-f.exited
	}
	f.cmd = nil
}

// invoke sends one event; it reports whether the function failed (an error
// result, a crash, or a timeout), as Lambda's X-Amz-Function-Error would.
func (f *function) invoke(ctx context.Context, event []byte) (result []byte, failed bool, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, f.invokeURL, bytes.NewReader(event))
	if err != nil {
		return nil, false, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, false, fmt.Errorf("invoking the function under the emulator: %w", err)
	}
	defer resp.Body.Close()
	result, err = io.ReadAll(resp.Body)
	if err != nil {
		return nil, false, err
	}
	return result, resp.StatusCode != http.StatusOK || isFunctionError(result), nil
}

// isFunctionError: the emulator answers 200 with the runtime's error document
// ({"errorMessage": ..., "errorType": ...}) or, on a timeout, with "Task timed
// out after N.00 seconds"; Lambda flags both with X-Amz-Function-Error.
func isFunctionError(result []byte) bool {
	if bytes.HasPrefix(result, []byte("Task timed out after ")) {
		return true
	}
	var doc map[string]json.RawMessage
	if json.Unmarshal(result, &doc) != nil {
		return false
	}
	_, message := doc["errorMessage"]
	_, kind := doc["errorType"]
	_, status := doc["statusCode"]
	return message && kind && !status
}

// rebuild runs the build command, holding mu so that requests wait; on
// success it restarts the function, on failure the last good build serves on.
func (f *function) rebuild(command string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.logger.Info("rebuilding", "command", command)
	started := time.Now()
	cmd := exec.Command("sh", "-c", command)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		f.logger.Error("the build failed; the last good build keeps serving", "command", command, "err", err)
		return
	}
	f.stop()
	if err := f.start(); err != nil {
		f.logger.Error("restarting the function", "err", err)
		return
	}
	f.logger.Info("rebuilt and restarted", "took", time.Since(started).Round(time.Millisecond))
}

// watch calls changed once per burst of changes to paths: files, and
// folders with everything in them but build output and hidden folders. A
// file's folder is watched, not the file, since editors save by renaming.
func watch(paths []string, changed func(), logger *slog.Logger) (*fsnotify.Watcher, error) {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, err
	}
	var files, dirs []string
	add := func(root string) error {
		return filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
			if err != nil || !d.IsDir() {
				return err
			}
			if name := d.Name(); path != root && (name == "target" || name == "build" || strings.HasPrefix(name, ".")) {
				return filepath.SkipDir
			}
			return w.Add(path)
		})
	}
	for _, p := range paths {
		p = filepath.Clean(p)
		info, err := os.Stat(p)
		switch {
		case err == nil && info.IsDir():
			dirs = append(dirs, p)
			err = add(p)
		default: // a file, or one not there yet (go.sum before the first dependency)
			files = append(files, p)
			err = w.Add(filepath.Dir(p))
		}
		if err != nil {
			w.Close()
			return nil, fmt.Errorf("watching %s: %w", p, err)
		}
	}
	relevant := func(name string) bool {
		name = filepath.Clean(name)
		for _, f := range files {
			if name == f {
				return true
			}
		}
		for _, d := range dirs {
			if strings.HasPrefix(name, d+string(filepath.Separator)) {
				return true
			}
		}
		return false
	}
	go func() {
		var timer *time.Timer
		for {
			select {
			case event, ok := <-w.Events:
				if !ok {
					return
				}
				if !relevant(event.Name) {
					continue
				}
				if event.Has(fsnotify.Create) {
					if info, err := os.Stat(event.Name); err == nil && info.IsDir() {
						_ = add(event.Name)
					}
				}
				// Editors save in bursts (write, rename, chmod): one rebuild.
				if timer != nil {
					timer.Stop()
				}
				timer = time.AfterFunc(150*time.Millisecond, changed)
			case err, ok := <-w.Errors:
				if !ok {
					return
				}
				logger.Warn("watching", "err", err)
			}
		}
	}()
	return w, nil
}

// --- HTTP to events and back ------------------------------------------------

type route struct {
	key      string // as the IaC writes it: "GET /hello"
	method   string
	segments []string
}

type gateway struct {
	trigger string
	routes  []route
	region  string
	port    string
	cors    corsConfig
	fn      *function
}

// The ids in domain names, shaped like the services' own: an HTTP API's id
// is 10 lowercase letters and digits, a Function URL's 32.
const (
	apiID = "local00api"
	urlID = "local000000000000000function0url"
)

func newGateway(trigger, routes, region string) (*gateway, error) {
	gw := &gateway{trigger: trigger, region: region}
	switch trigger {
	case "none", "function-url":
	case "http-api":
		for _, key := range strings.Split(routes, ",") {
			key = strings.TrimSpace(key)
			method, path, ok := strings.Cut(key, " ")
			if !ok || !strings.HasPrefix(path, "/") {
				return nil, fmt.Errorf("-routes: %q is no route key such as \"GET /hello\"", key)
			}
			gw.routes = append(gw.routes, route{key: key, method: method, segments: strings.Split(path[1:], "/")})
		}
	default:
		return nil, fmt.Errorf("-trigger %q: expected http-api, function-url or none", trigger)
	}
	return gw, nil
}

func (gw *gateway) announce(address string) {
	switch gw.trigger {
	case "none":
		fmt.Fprintf(os.Stderr, "Invoke endpoint: http://%s/2015-03-31/functions/function/invocations\n", address)
	case "http-api":
		for _, r := range gw.routes {
			fmt.Fprintf(os.Stderr, "%s -> http://%s%s\n", r.key, address, strings.Join(append([]string{""}, r.segments...), "/"))
		}
	default:
		fmt.Fprintf(os.Stderr, "Function URL: http://%s/\n", address)
	}
}

// match finds the HTTP API's route for a request: the method (or ANY) and
// the path, where {name} matches one segment and {name+} the rest.
func (gw *gateway) match(method, path string) (string, map[string]string, bool) {
	segments := strings.Split(strings.TrimPrefix(path, "/"), "/")
	for _, r := range gw.routes {
		if r.method != method && r.method != "ANY" {
			continue
		}
		params := map[string]string{}
		ok := true
		for i, s := range r.segments {
			if strings.HasPrefix(s, "{") && strings.HasSuffix(s, "+}") && i < len(segments) {
				params[strings.Trim(s, "{+}")] = strings.Join(segments[i:], "/")
				segments = segments[:i+1]
				break
			}
			if i >= len(segments) {
				ok = false
				break
			}
			if strings.HasPrefix(s, "{") && strings.HasSuffix(s, "}") && segments[i] != "" {
				params[strings.Trim(s, "{}")] = segments[i]
			} else if s != segments[i] {
				ok = false
				break
			}
		}
		if ok && len(segments) == len(r.segments) {
			return r.key, params, true
		}
	}
	return "", nil, false
}

func (gw *gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if gw.trigger == "none" {
		gw.passThrough(w, r)
		return
	}
	if gw.cors.origins != "" {
		origin, allowed := gw.cors.allowedOrigin(r.Header.Get("Origin"))
		if r.Method == http.MethodOptions && r.Header.Get("Origin") != "" && r.Header.Get("Access-Control-Request-Method") != "" {
			// A preflight: the service answers it, the function is not called.
			if allowed {
				h := w.Header()
				h.Set("Access-Control-Allow-Origin", origin)
				h.Set("Access-Control-Allow-Methods", gw.cors.methods)
				h.Set("Access-Control-Allow-Headers", gw.cors.headers)
				h.Set("Access-Control-Max-Age", strconv.Itoa(gw.cors.maxAge))
			}
			w.WriteHeader(http.StatusNoContent)
			return
		}
		if allowed {
			w.Header().Set("Access-Control-Allow-Origin", origin)
		}
	}
	routeKey, params := "$default", map[string]string(nil)
	if gw.trigger == "http-api" {
		var ok bool
		if routeKey, params, ok = gw.match(r.Method, r.URL.EscapedPath()); !ok {
			// API Gateway's own answer: the function is not called.
			writeJSON(w, http.StatusNotFound, `{"message":"Not Found"}`)
			return
		}
	}
	event, requestID, err := gw.event(r, routeKey, params)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if gw.trigger == "http-api" {
		w.Header().Set("Apigw-Requestid", requestID)
	} else {
		w.Header().Set("X-Amzn-Requestid", requestID)
	}
	result, failed, err := gw.fn.invoke(r.Context(), event)
	if err != nil {
		gw.fn.logger.Error("invoke", "err", err)
	} else if failed {
		// What Lambda reports to the service, which the client never sees.
		gw.fn.logger.Error("the function failed", "result", string(result))
	}
	if err != nil || failed || !writeResult(w, result) {
		gw.internalError(w)
	}
}

// internalError is the service's answer to a failed function (an error, a
// timeout, or a result it cannot map): the HTTP API's 500 {"message":
// "Internal Server Error"} or a Function URL's 502 "Internal Server Error".
func (gw *gateway) internalError(w http.ResponseWriter) {
	if gw.trigger == "http-api" {
		writeJSON(w, http.StatusInternalServerError, `{"message":"Internal Server Error"}`)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(http.StatusBadGateway)
	_, _ = io.WriteString(w, "Internal Server Error")
}

func writeJSON(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, body)
}

// passThrough hands an invoke request to the emulator through the queue.
func (gw *gateway) passThrough(w http.ResponseWriter, r *http.Request) {
	event, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	result, _, err := gw.fn.invoke(r.Context(), event)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	_, _ = w.Write(result)
}

// event builds the payload format 2.0 event for a request.
func (gw *gateway) event(r *http.Request, routeKey string, params map[string]string) ([]byte, string, error) {
	now := time.Now()
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return nil, "", err
	}
	sourceIP, _, _ := net.SplitHostPort(r.RemoteAddr)
	id, domain, account := apiID, apiID+".execute-api."+gw.region+".amazonaws.com", "000000000000"
	requestID := randomBase64(12) // an HTTP API's ids: "JKJaXmPLvHcESHA="
	if gw.trigger == "function-url" {
		id, domain, account = urlID, urlID+".lambda-url."+gw.region+".on.aws", "anonymous"
		requestID = uuid()
	}
	headers := map[string]string{}
	var cookies []string
	for name, values := range r.Header {
		lower := strings.ToLower(name)
		if lower == "cookie" {
			for _, v := range values {
				for _, c := range strings.Split(v, ";") {
					if c = strings.TrimSpace(c); c != "" {
						cookies = append(cookies, c)
					}
				}
			}
			continue
		}
		headers[lower] = strings.Join(values, ",")
	}
	headers["host"] = r.Host
	if r.ContentLength > 0 || len(body) > 0 {
		headers["content-length"] = strconv.Itoa(len(body))
	}
	headers["x-amzn-trace-id"] = fmt.Sprintf("Root=1-%08x-%s", now.Unix(), randomHex(12))
	headers["x-forwarded-for"] = sourceIP
	headers["x-forwarded-port"] = gw.port
	headers["x-forwarded-proto"] = "http"

	event := map[string]any{
		"version":        "2.0",
		"routeKey":       routeKey,
		"rawPath":        r.URL.EscapedPath(),
		"rawQueryString": r.URL.RawQuery,
		"headers":        headers,
		"requestContext": map[string]any{
			"accountId":    account,
			"apiId":        id,
			"domainName":   domain,
			"domainPrefix": id,
			"http": map[string]string{
				"method":    r.Method,
				"path":      r.URL.Path,
				"protocol":  r.Proto,
				"sourceIp":  sourceIP,
				"userAgent": r.UserAgent(),
			},
			"requestId": requestID,
			"routeKey":  routeKey,
			"stage":     "$default",
			"time":      now.UTC().Format("02/Jan/2006:15:04:05 -0700"),
			"timeEpoch": now.UnixMilli(),
		},
		"isBase64Encoded": false,
	}
	if len(cookies) > 0 {
		event["cookies"] = cookies
	}
	if r.URL.RawQuery != "" {
		query, err := url.ParseQuery(r.URL.RawQuery)
		if err != nil {
			return nil, "", fmt.Errorf("the query string: %w", err)
		}
		joined := map[string]string{}
		for k, v := range query {
			joined[k] = strings.Join(v, ",")
		}
		event["queryStringParameters"] = joined
	}
	if len(params) > 0 {
		event["pathParameters"] = params
	}
	if gw.trigger == "function-url" {
		// As the Function URL documentation's example shows them.
		event["pathParameters"] = nil
		event["stageVariables"] = nil
		event["requestContext"].(map[string]any)["authentication"] = nil
	}
	if len(body) > 0 {
		if isText(r.Header.Get("Content-Type")) {
			event["body"] = string(body)
		} else {
			event["body"] = base64.StdEncoding.EncodeToString(body)
			event["isBase64Encoded"] = true
		}
	}
	out, err := json.Marshal(event)
	return out, requestID, err
}

// isText: bodies the services pass as text; any other is base64-encoded.
func isText(contentType string) bool {
	media, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return false
	}
	switch {
	case strings.HasPrefix(media, "text/"), strings.HasSuffix(media, "+json"), strings.HasSuffix(media, "+xml"):
		return true
	}
	switch media {
	case "application/json", "application/javascript", "application/xml", "application/yaml":
		return true
	}
	return false
}

// response is the function's result in payload format 2.0.
type response struct {
	StatusCode      *int              `json:"statusCode"`
	Headers         map[string]string `json:"headers"`
	Cookies         []string          `json:"cookies"`
	Body            *string           `json:"body"`
	IsBase64Encoded bool              `json:"isBase64Encoded"`
}

// writeResult maps the function's result to the HTTP response, as the HTTP
// API and Function URLs do: a JSON object with statusCode gives the status,
// headers, cookies (each a Set-Cookie) and body (decoded if base64); any
// other JSON is a 200 application/json body as it is. It reports false for
// a result the services reject (not JSON), without writing.
func writeResult(w http.ResponseWriter, result []byte) bool {
	if !json.Valid(result) {
		return false
	}
	var resp response
	if json.Unmarshal(result, &resp) != nil || resp.StatusCode == nil {
		writeJSON(w, http.StatusOK, string(result))
		return true
	}
	body := []byte{}
	if resp.Body != nil {
		body = []byte(*resp.Body)
		if resp.IsBase64Encoded {
			decoded, err := base64.StdEncoding.DecodeString(*resp.Body)
			if err != nil {
				return false
			}
			body = decoded
		}
	}
	for name, value := range resp.Headers {
		w.Header().Set(name, value)
	}
	for _, c := range resp.Cookies {
		w.Header().Add("Set-Cookie", c)
	}
	if w.Header().Get("Content-Type") == "" {
		w.Header()["Content-Type"] = nil // no sniffed type the services would not send
	}
	w.WriteHeader(*resp.StatusCode)
	_, _ = w.Write(body)
	return true
}

// --- events from a body, as each trigger delivers one ---------------------------

// makeEvent builds the event the trigger sends for body: an SQS batch of
// count records (fresh ids, attributes and MD5), the Scheduled Event the
// IaC's Scheduler input makes (body as its detail), or the HTTP event of
// GET /hello carrying body.
func makeEvent(trigger, body string, count int, sourceARN string, cfg config) ([]byte, error) {
	now := time.Now()
	switch trigger {
	case "sqs":
		if count < 1 || count > 10000 {
			return nil, fmt.Errorf("--count %d: an SQS batch holds 1 to 10000 records", count)
		}
		records := make([]map[string]any, count)
		for i := range records {
			sent := now.UnixMilli() + int64(i)
			records[i] = map[string]any{
				"messageId":     uuid(),
				"receiptHandle": "AQEB" + randomBase64(48),
				"body":          body,
				"attributes": map[string]string{
					"ApproximateReceiveCount":          "1",
					"SentTimestamp":                    strconv.FormatInt(sent, 10),
					"SenderId":                         "AIDAIENQZJOLO23YVJ4VO",
					"ApproximateFirstReceiveTimestamp": strconv.FormatInt(sent+5, 10),
				},
				"messageAttributes": map[string]any{},
				"md5OfBody":         fmt.Sprintf("%x", md5.Sum([]byte(body))),
				"eventSource":       "aws:sqs",
				"eventSourceARN":    sourceARN,
				"awsRegion":         cfg.region,
			}
		}
		return json.Marshal(map[string]any{"Records": records})
	case "schedule":
		if body == "" {
			body = "{}"
		}
		var detail map[string]any
		if err := json.Unmarshal([]byte(body), &detail); err != nil {
			return nil, fmt.Errorf("--body: a Scheduled Event's detail is a JSON object: %w", err)
		}
		parts := strings.SplitN(sourceARN, ":", 6) // arn:aws:scheduler:REGION:ACCOUNT:schedule/...
		if len(parts) != 6 {
			return nil, fmt.Errorf("-source-arn %q: not an ARN", sourceARN)
		}
		return json.Marshal(map[string]any{
			"version": "0", "id": uuid(), "detail-type": "Scheduled Event", "source": "aws.scheduler",
			"account": parts[4], "time": now.UTC().Format(time.RFC3339), "region": cfg.region,
			"resources": []string{sourceARN}, "detail": detail,
		})
	case "http-api", "function-url":
		gw, err := newGateway(trigger, "GET /hello", cfg.region)
		if err != nil {
			return nil, err
		}
		req := httptest.NewRequest(http.MethodGet, "/hello", strings.NewReader(body))
		req.RemoteAddr, req.Host = "127.0.0.1:1234", "localhost"
		req.Header.Set("User-Agent", "mise-run-invoke")
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		event, _, err := gw.event(req, map[bool]string{true: "GET /hello", false: "$default"}[trigger == "http-api"], nil)
		return event, err
	}
	return nil, fmt.Errorf("-event-for %q: expected http-api, function-url, sqs or schedule", trigger)
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}

func randomHex(n int) string { return hex.EncodeToString(randomBytes(n)) }

func randomBase64(n int) string { return base64.StdEncoding.EncodeToString(randomBytes(n)) }

func uuid() string {
	b := randomBytes(16)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

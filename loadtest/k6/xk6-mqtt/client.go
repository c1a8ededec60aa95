package mqtt

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/grafana/sobek"
	"github.com/mstoykov/k6-taskqueue-lib/taskqueue"

	"go.k6.io/k6/js/common"
	"go.k6.io/k6/js/modules"
	"go.k6.io/k6/lib"
)

// Client is one MQTT connection as JS sees it (`new Client(options)`). Its methods run on the VU's
// thread; Paho's goroutines reach JS only through the task queue (listeners) or a promise's
// registered callback, as k6's own WebSocket module does.
type Client struct {
	vu     modules.VU
	m      *clientMetrics
	opts   clientOptions
	emit   emitter
	dialer lib.DialContexter

	conn      *connection                 // VU thread only
	pending   *connection                 // VU thread only: connectAsync() not settled yet
	listeners map[string][]sobek.Callable // VU thread only

	mu      sync.Mutex
	tq      *taskqueue.TaskQueue // open while a connection with listeners lives; keeps the iteration alive
	raw     net.Conn             // the latest connection's socket, for drop()
	dropped bool                 // drop()ped and not connected again since
}

// droppedClients counts this process's clients that drop() cut off and that have not connected
// again. While any has not, the runner is in a reconnect storm: its PUBACKs are tagged storm=true
// (and kept in their own histogram), so that a verdict can hold the rest of the test to the
// product's latency targets and the storm to its own limit, instead of one percentile over both
// whose value depends mostly on how long the storm is against the test.
var droppedClients atomic.Int64

// testPhase is the script's name for the part of the test it is in (phase(): "ramp", "steady"),
// or "" before any: PUBACKs are also kept per phase, to see where latency came from.
var testPhase atomic.Pointer[string]

func setPhase(name string) { testPhase.Store(&name) }

func currentPhase() string {
	if p := testPhase.Load(); p != nil {
		return *p
	}
	return ""
}

// backAfterDrop marks the client as no longer dropped (connected again, or closed for good).
func (c *Client) backAfterDrop() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.dropped {
		c.dropped = false
		droppedClients.Add(-1)
	}
}

// connection is one CONNECT..DISCONNECT of a Client.
type connection struct {
	paho     paho.Client
	done     chan struct{}
	stopOnce sync.Once
	inflight sync.WaitGroup
}

var errNotConnected = errors.New("not connected")

func newClient(vu modules.VU, m *clientMetrics, opts clientOptions) *Client {
	state := vu.State()
	return &Client{
		vu:        vu,
		m:         m,
		opts:      opts,
		emit:      newEmitter(vu.Context(), state.Samples, state.Tags.GetCurrentValues()),
		dialer:    state.Dialer,
		listeners: map[string][]sobek.Callable{},
	}
}

// On adds a listener: "message" (topic, payload as string) or "lost" (reason). While connected,
// a client with listeners keeps the VU's iteration running until close().
func (c *Client) On(event string, fn sobek.Value) error {
	cb, ok := sobek.AssertFunction(fn)
	if !ok {
		return fmt.Errorf("on(%q): listener is not a function", event)
	}
	switch event {
	case "message", "lost":
	default:
		return fmt.Errorf("on(%q): unknown event (message, lost)", event)
	}
	c.listeners[event] = append(c.listeners[event], cb)
	if c.conn != nil && c.conn.paho.IsConnectionOpen() {
		c.openQueue()
	}
	return nil
}

// Connect connects and waits for CONNACK; it throws when refused or timed out.
func (c *Client) Connect() error {
	cn, err := c.prepare()
	if err != nil {
		return err
	}
	if err := c.awaitConnect(cn); err != nil {
		c.closeQueue()
		return err
	}
	c.conn = cn
	return nil
}

// ConnectAsync returns a promise that resolves on CONNACK.
func (c *Client) ConnectAsync() *sobek.Promise {
	cn, err := c.prepare()
	if err != nil {
		return c.rejected(err)
	}
	c.pending = cn
	return c.async(func() error { return c.awaitConnect(cn) }, func(err error) error {
		if err == nil && c.pending != cn { // close() came first
			cn.stop()
			err = errors.New("connect: closed while connecting")
		}
		if c.pending == cn {
			c.pending = nil
		}
		if err != nil {
			if c.conn == nil {
				c.closeQueue()
			}
			return err
		}
		c.conn = cn
		return nil
	})
}

// Publish sends a message; at QoS 1 it returns once the broker's PUBACK arrived.
func (c *Client) Publish(topic string, payload sobek.Value, opts sobek.Value) error {
	p, err := c.send(topic, payload, opts)
	if err != nil {
		return err
	}
	return c.awaitPublish(p)
}

// PublishAsync returns a promise that resolves once the message is written (QoS 0) or
// acknowledged (QoS 1). Messages are handed to the connection in call order.
func (c *Client) PublishAsync(topic string, payload sobek.Value, opts sobek.Value) *sobek.Promise {
	p, err := c.send(topic, payload, opts)
	if err != nil {
		return c.rejected(err)
	}
	return c.async(func() error { return c.awaitPublish(p) }, nil)
}

// Subscribe subscribes and waits for SUBACK; a refused subscription (0x80) throws.
func (c *Client) Subscribe(topic string, opts sobek.Value) error {
	token, err := c.subscribe(topic, opts)
	if err != nil {
		return err
	}
	return c.awaitSubscribe(token, topic)
}

// SubscribeAsync returns a promise that resolves on SUBACK.
func (c *Client) SubscribeAsync(topic string, opts sobek.Value) *sobek.Promise {
	token, err := c.subscribe(topic, opts)
	if err != nil {
		return c.rejected(err)
	}
	return c.async(func() error { return c.awaitSubscribe(token, topic) }, nil)
}

// IsConnected reports whether the connection is up.
func (c *Client) IsConnected() bool {
	return c.conn != nil && c.conn.paho.IsConnectionOpen()
}

// Close waits (up to closeTimeout) for outstanding PUBACKs, disconnects and releases the
// iteration. Closing twice is harmless.
func (c *Client) Close() {
	if c.pending != nil {
		c.pending.stop()
		c.pending = nil
	}
	cn := c.conn
	c.conn = nil
	if cn != nil {
		waitTimeout(&cn.inflight, c.opts.closeTimeout)
		cn.stop()
	}
	c.closeQueue()
	c.backAfterDrop()
}

// prepare builds the Paho client for one connection and, if there are listeners, opens the task
// queue before CONNECT so that messages of a persistent session are not lost.
func (c *Client) prepare() (*connection, error) {
	if (c.conn != nil && c.conn.paho.IsConnectionOpen()) || c.pending != nil {
		return nil, errors.New("already connected or connecting")
	}
	if c.conn != nil {
		c.conn.stop()
		c.conn = nil
	}
	cn := &connection{done: make(chan struct{})}
	o := paho.NewClientOptions().
		AddBroker("tcp://" + net.JoinHostPort(c.opts.host, strconv.Itoa(c.opts.port))).
		SetClientID(c.opts.clientID).
		SetUsername(c.opts.username).
		SetPassword(c.opts.password).
		SetCleanSession(c.opts.cleanSession).
		SetProtocolVersion(4).
		SetKeepAlive(c.opts.keepalive).
		SetConnectTimeout(c.opts.connectTimeout).
		SetWriteTimeout(c.opts.publishTimeout).
		SetAutoReconnect(false).
		SetConnectRetry(false).
		SetDefaultPublishHandler(c.onMessage).
		SetConnectionLostHandler(func(_ paho.Client, err error) { c.onLost(cn, err) }).
		SetCustomOpenConnectionFn(c.dial)
	cn.paho = paho.NewClient(o)
	if len(c.listeners) > 0 {
		c.openQueue()
	}
	return cn, nil
}

// dial opens the TCP connection through k6's dialer (so data_sent/received, hosts and
// blacklists apply) or from a given source address (to get past one address's ~28k ports), and
// with the tls option makes it a TLS connection that verifies the broker against the given CA.
func (c *Client) dial(uri *url.URL, _ paho.ClientOptions) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(c.emit.ctx, c.opts.connectTimeout)
	defer cancel()
	var conn net.Conn
	var err error
	if c.opts.localAddress != nil {
		d := net.Dialer{LocalAddr: c.opts.localAddress}
		conn, err = d.DialContext(ctx, "tcp", uri.Host)
	} else {
		conn, err = c.dialer.DialContext(ctx, "tcp", uri.Host)
	}
	if err != nil {
		return nil, err
	}
	if c.opts.tls != nil {
		tc := tls.Client(conn, c.opts.tls)
		if err := tc.HandshakeContext(ctx); err != nil {
			conn.Close()
			return nil, fmt.Errorf("tls: %w", err)
		}
		conn = tc
	}
	c.mu.Lock()
	c.raw = conn
	c.mu.Unlock()
	return conn, nil
}

// Drop ends the connection without DISCONNECT, as a broker crash or a load balancer reset would:
// the socket's deadline passes at once, so Paho's reader fails and reports the connection lost
// ("lost" listeners run; closing the socket ourselves would not: Paho takes "use of closed
// network connection" for its own close).
func (c *Client) Drop() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.raw != nil && c.conn != nil {
		if !c.dropped {
			c.dropped = true
			droppedClients.Add(1)
		}
		_ = c.raw.SetDeadline(time.Now())
	}
}

// awaitConnect runs on any goroutine.
func (c *Client) awaitConnect(cn *connection) error {
	started := time.Now()
	token := cn.paho.Connect()
	var err error
	if !token.WaitTimeout(c.opts.connectTimeout + time.Second) {
		err = fmt.Errorf("connect: no CONNACK within %s", c.opts.connectTimeout)
	} else if token.Error() != nil {
		err = fmt.Errorf("connect: %w", token.Error())
	}
	if err != nil {
		cn.stop()
		c.emit.count(c.m.connectErrors)
		return err
	}
	took := time.Since(started)
	c.emit.duration(c.m.connectDuration, took)
	runnerHistograms.add("mqtt_connect_duration", float64(took.Microseconds())/1_000)
	c.emit.count(c.m.connects)
	c.backAfterDrop()
	go c.watchContext(cn)
	return nil
}

// watchContext disconnects when k6 ends the VU (test over, or interrupted).
func (c *Client) watchContext(cn *connection) {
	select {
	case <-c.emit.ctx.Done():
		cn.stop()
		c.closeQueue()
	case <-cn.done:
	}
}

// published is a message handed to Paho, until its PUBACK.
type published struct {
	cn      *connection
	token   paho.Token
	started time.Time
	qos     byte
	storm   bool   // sent while some client of this process was still down after a drop()
	phase   string // the script's phase() when sent
}

func (c *Client) send(topic string, payload sobek.Value, opts sobek.Value) (published, error) {
	rt := c.vu.Runtime()
	po, err := parsePublishOptions(rt, opts)
	if err != nil {
		return published{}, err
	}
	data, err := payloadBytes(payload)
	if err != nil {
		return published{}, err
	}
	c.emit.count(c.m.publishes)
	if c.conn == nil {
		c.emit.count(c.m.publishErrors)
		return published{}, fmt.Errorf("publish: %w", errNotConnected)
	}
	cn := c.conn
	cn.inflight.Add(1)
	storm, phase := droppedClients.Load() > 0, currentPhase()
	started := time.Now()
	return published{cn: cn, token: cn.paho.Publish(topic, po.qos, po.retain, data), started: started, qos: po.qos, storm: storm, phase: phase}, nil
}

// awaitPublish runs on any goroutine.
func (c *Client) awaitPublish(p published) error {
	defer p.cn.inflight.Done()
	var err error
	if !p.token.WaitTimeout(c.opts.publishTimeout) {
		err = fmt.Errorf("publish: no PUBACK within %s", c.opts.publishTimeout)
	} else if p.token.Error() != nil {
		err = fmt.Errorf("publish: %w", p.token.Error())
	}
	if err != nil {
		c.emit.count(c.m.publishErrors)
		return err
	}
	if p.qos == 1 {
		took := time.Since(p.started)
		c.emit.pubackDuration(c.m.pubackDuration, took, p.storm)
		ms := float64(took.Microseconds()) / 1_000
		runnerHistograms.add("mqtt_puback_duration", ms)
		if p.storm {
			runnerHistograms.add("mqtt_puback_duration_storm", ms)
		} else {
			runnerHistograms.add("mqtt_puback_duration_outside_storm", ms)
			if p.phase != "" {
				runnerHistograms.add("mqtt_puback_duration_outside_storm_"+p.phase, ms)
			}
		}
	}
	return nil
}

func (c *Client) subscribe(topic string, opts sobek.Value) (paho.Token, error) {
	po, err := parsePublishOptions(c.vu.Runtime(), opts)
	if err != nil {
		return nil, err
	}
	if c.conn == nil {
		return nil, fmt.Errorf("subscribe: %w", errNotConnected)
	}
	return c.conn.paho.Subscribe(topic, po.qos, c.onMessage), nil
}

func (c *Client) awaitSubscribe(token paho.Token, topic string) error {
	if !token.WaitTimeout(c.opts.publishTimeout) {
		return fmt.Errorf("subscribe %s: no SUBACK within %s", topic, c.opts.publishTimeout)
	}
	if token.Error() != nil {
		return fmt.Errorf("subscribe %s: %w", topic, token.Error())
	}
	if st, ok := token.(*paho.SubscribeToken); ok && st.Result()[topic] == 0x80 {
		return fmt.Errorf("subscribe %s: refused by the broker", topic)
	}
	return nil
}

// onMessage runs on Paho's router goroutine; the listeners run later on the VU's event loop.
func (c *Client) onMessage(_ paho.Client, msg paho.Message) {
	c.emit.count(c.m.received)
	topic, payload := msg.Topic(), string(msg.Payload())
	c.queue(func() error { return c.fire("message", topic, payload) })
}

func (c *Client) onLost(cn *connection, err error) {
	c.emit.count(c.m.connectionsLost)
	reason := err.Error()
	c.queue(func() error { return c.fire("lost", reason) })
	cn.stop()
	c.closeQueue()
}

// fire runs on the VU's event loop; a listener's exception ends the iteration, as in k6's own
// modules.
func (c *Client) fire(event string, args ...string) error {
	rt := c.vu.Runtime()
	values := make([]sobek.Value, len(args))
	for i, a := range args {
		values[i] = rt.ToValue(a)
	}
	for _, fn := range c.listeners[event] {
		if _, err := fn(sobek.Undefined(), values...); err != nil {
			return err
		}
	}
	return nil
}

// openQueue must run on the VU's thread (it registers a callback with the event loop).
func (c *Client) openQueue() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.tq == nil {
		c.tq = taskqueue.New(c.vu.RegisterCallback)
	}
}

func (c *Client) closeQueue() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.tq != nil {
		c.tq.Close()
		c.tq = nil
	}
}

func (c *Client) queue(task func() error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.tq != nil {
		c.tq.Queue(task)
	}
}

// async runs work off the VU's thread and settles the promise on it; then (optional) runs on the
// VU's thread first and may change the outcome.
func (c *Client) async(work func() error, then func(error) error) *sobek.Promise {
	rt := c.vu.Runtime()
	promise, resolve, reject := rt.NewPromise()
	callback := c.vu.RegisterCallback()
	go func() {
		err := work()
		callback(func() error {
			if then != nil {
				err = then(err)
			}
			if err != nil {
				return reject(rt.NewGoError(err))
			}
			return resolve(sobek.Undefined())
		})
	}()
	return promise
}

func (c *Client) rejected(err error) *sobek.Promise {
	rt := c.vu.Runtime()
	promise, _, reject := rt.NewPromise()
	if rerr := reject(rt.NewGoError(err)); rerr != nil {
		common.Throw(rt, rerr)
	}
	return promise
}

// stop disconnects once, from any goroutine.
func (cn *connection) stop() {
	cn.stopOnce.Do(func() {
		cn.paho.Disconnect(250)
		close(cn.done)
	})
}

func payloadBytes(v sobek.Value) ([]byte, error) {
	switch p := v.Export().(type) {
	case string:
		return []byte(p), nil
	case sobek.ArrayBuffer:
		return p.Bytes(), nil
	case []byte:
		return p, nil
	default:
		return nil, fmt.Errorf("payload must be a string or an ArrayBuffer, not %T", p)
	}
}

func waitTimeout(wg *sync.WaitGroup, d time.Duration) {
	done := make(chan struct{})
	go func() {
		wg.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(d):
	}
}

package carfleet

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"syscall"
	"time"

	"github.com/eclipse/paho.mqtt.golang/packets"
)

// A car's connection state.
const (
	stateOff        = iota // waiting to (re)connect
	stateConnecting        // TCP connect in progress
	stateConnack           // CONNECT sent
	stateOnline            // CONNACK 0 received
)

// The most a car holds: unsent bytes (the broker stopped reading) and one inbound packet.
const (
	maxOut      = 1 << 20
	maxPacket   = 1 << 20
	maxInflight = 1_000
)

var (
	errConnectTimeout = errors.New("no CONNACK in time")
	errDropped        = errors.New("dropped (reconnect storm)")
	errOutFull        = errors.New("broker not reading: send buffer full")
)

// car is one simulated car; every field is the loop goroutine's alone.
type car struct {
	f        *Fleet
	l        *loop
	index    int
	id       string
	password string
	telTopic string
	cmdTopic string
	ackTopic string
	model    *Model

	fd       int
	state    uint8
	gen      uint32
	server   int
	failures int
	everUp   bool
	started  int64
	lastSent int64
	ticking  bool
	due      int64
	nextID   uint16
	in       []byte // a partial inbound packet
	out      []byte // bytes the socket did not take yet
	inflight []flight
	pkt      []byte // scratch: the packet being sent
	payload  []byte // scratch: the telemetry JSON
}

type flight struct {
	id        uint16
	telemetry bool
	sent      int64
}

func newCar(f *Fleet, index int, id, password string) *car {
	return &car{
		f: f, l: f.loop, index: index, id: id, password: password, fd: -1, nextID: 1,
		server:   index % len(f.addrs),
		telTopic: "vehicles/" + id + "/telemetry",
		cmdTopic: "vehicles/" + id + "/commands",
		ackTopic: "vehicles/" + id + "/commands/ack",
	}
}

// connect starts one connection attempt.
func (c *car) connect() {
	if c.f.stopping.Load() || c.state != stateOff {
		return
	}
	c.gen++
	c.started = time.Now().UnixNano()
	fd, err := c.l.dial(c.f.addrs[c.server], c.source())
	if err != nil {
		c.state = stateConnecting
		c.close(err)
		return
	}
	c.fd, c.state = fd, stateConnecting
	c.l.byFD[int32(fd)] = c
	c.l.schedule(timer{at: c.started + int64(c.f.cfg.ConnectTimeout), car: c, kind: timerTimeout, gen: c.gen})
}

// ready handles an epoll event for the car's socket.
func (c *car) ready(events uint32) {
	if c.state == stateConnecting {
		if events&(syscall.EPOLLOUT|syscall.EPOLLERR|syscall.EPOLLHUP) == 0 {
			return
		}
		if errno, err := syscall.GetsockoptInt(c.fd, syscall.SOL_SOCKET, syscall.SO_ERROR); err != nil || errno != 0 {
			if err == nil {
				err = syscall.Errno(errno)
			}
			c.close(fmt.Errorf("connect: %w", err))
			return
		}
		c.state = stateConnack
		c.l.watch(c.fd, false)
		c.sendConnect()
		return
	}
	if events&syscall.EPOLLOUT != 0 && len(c.out) > 0 {
		c.flush()
	}
	if c.fd >= 0 && events&(syscall.EPOLLIN|syscall.EPOLLERR|syscall.EPOLLHUP) != 0 {
		c.read()
	}
}

func (c *car) sendConnect() {
	cp := packets.NewControlPacket(packets.Connect).(*packets.ConnectPacket)
	cp.ProtocolName, cp.ProtocolVersion = "MQTT", 4
	cp.CleanSession = c.f.cfg.CleanSession
	cp.Keepalive = uint16(c.f.cfg.Keepalive / time.Second)
	cp.ClientIdentifier = c.id
	cp.UsernameFlag, cp.Username = true, c.id
	cp.PasswordFlag, cp.Password = true, []byte(c.password)
	var b bytes.Buffer
	_ = cp.Write(&b)
	c.send(b.Bytes())
}

// read takes what the socket has (one read: epoll reports a socket again while data is left).
func (c *car) read() {
	n, err := syscall.Read(c.fd, c.l.buf)
	if errors.Is(err, syscall.EAGAIN) || errors.Is(err, syscall.EINTR) {
		return
	}
	if err != nil || n == 0 {
		if err == nil {
			err = io.EOF
		}
		c.close(fmt.Errorf("connection lost: %w", err))
		return
	}
	data := c.l.buf[:n]
	if len(c.in) > 0 {
		c.in = append(c.in, data...)
		data = c.in
	}
	for c.fd >= 0 {
		kind, body, size, err := nextPacket(data)
		if err != nil {
			c.close(err)
			return
		}
		if size == 0 {
			break
		}
		c.handle(kind, body)
		data = data[size:]
	}
	if c.fd >= 0 {
		c.in = append(c.in[:0], data...) // copy: data may alias the loop's buffer
	}
}

// nextPacket splits the first whole packet off data [MQTT-2.2]; size 0 means "need more bytes".
func nextPacket(data []byte) (kind byte, body []byte, size int, err error) {
	length, mult := 0, 1
	for i := 1; i < len(data) && i <= 4; i++ {
		length += int(data[i]&0x7f) * mult
		if data[i]&0x80 == 0 {
			if length > maxPacket {
				return 0, nil, 0, fmt.Errorf("inbound packet of %d bytes", length)
			}
			if len(data) < i+1+length {
				return 0, nil, 0, nil
			}
			return data[0], data[i+1 : i+1+length], i + 1 + length, nil
		}
		mult *= 128
	}
	if len(data) > 4 {
		return 0, nil, 0, errors.New("malformed remaining length")
	}
	return 0, nil, 0, nil
}

func (c *car) handle(kind byte, body []byte) {
	switch kind >> 4 {
	case packets.Connack:
		if c.state != stateConnack || len(body) < 2 {
			c.close(errors.New("unexpected CONNACK"))
		} else if body[1] != 0 {
			c.close(fmt.Errorf("refused: CONNACK %d", body[1]))
		} else {
			c.online()
		}
	case packets.Puback:
		if len(body) >= 2 {
			c.acked(binary.BigEndian.Uint16(body))
		}
	case packets.Publish:
		c.command(kind, body)
	case packets.Suback:
		if len(body) >= 3 && body[2] == 0x80 {
			c.f.errs.Add(1) // the broker refused the car's own commands topic
		}
	}
}

func (c *car) online() {
	now := time.Now().UnixNano()
	c.state, c.failures = stateOnline, 0
	c.f.connected.Add(1)
	if c.everUp {
		c.f.reconnects.Add(1)
	}
	c.everUp = true
	if c.f.cfg.OnConnect != nil {
		c.f.cfg.OnConnect(time.Duration(now-c.started), nil)
	}
	sub := packets.NewControlPacket(packets.Subscribe).(*packets.SubscribePacket)
	sub.Topics, sub.Qoss, sub.MessageID = []string{c.cmdTopic}, []byte{1}, c.takeID()
	var b bytes.Buffer
	_ = sub.Write(&b)
	c.send(b.Bytes())
	if !c.ticking && c.f.cfg.Interval > 0 {
		// A random phase spreads the cars over the interval.
		c.ticking = true
		c.model = NewModel(c.id, int64(c.index)+c.f.cfg.Seed*1_000_003, c.f.cfg.Interval)
		c.due = now + rand.Int64N(int64(c.f.cfg.Interval))
		c.l.schedule(timer{at: c.due, car: c, kind: timerTick})
	}
}

func (c *car) acked(id uint16) {
	for i, fl := range c.inflight {
		if fl.id != id {
			continue
		}
		c.inflight[i] = c.inflight[len(c.inflight)-1]
		c.inflight = c.inflight[:len(c.inflight)-1]
		d := time.Duration(time.Now().UnixNano() - fl.sent)
		if fl.telemetry {
			c.f.acked.Add(1)
			c.f.latMu.Lock()
			c.f.latencies = append(c.f.latencies, float64(d.Microseconds())/1_000)
			c.f.latMu.Unlock()
		}
		if c.f.cfg.OnPuback != nil {
			c.f.cfg.OnPuback(d, fl.telemetry)
		}
		return
	}
}

// command acknowledges a delivery [MQTT-4.3.2-2] and answers the command on its ack topic.
func (c *car) command(kind byte, body []byte) {
	qos := (kind >> 1) & 3
	if len(body) < 2 {
		return
	}
	at := 2 + int(binary.BigEndian.Uint16(body))
	if qos > 0 {
		if len(body) < at+2 {
			return
		}
		c.send(appendPuback(c.pkt[:0], binary.BigEndian.Uint16(body[at:])))
		at += 2
	}
	if at > len(body) {
		return
	}
	var cmd struct {
		CommandID string `json:"commandId"`
	}
	if json.Unmarshal(body[at:], &cmd) != nil || cmd.CommandID == "" || c.f.stopping.Load() || c.state != stateOnline {
		return
	}
	answer, _ := json.Marshal(map[string]string{"commandId": cmd.CommandID, "result": "ok"})
	id := c.takeID()
	c.inflight = append(c.inflight, flight{id: id, sent: time.Now().UnixNano()})
	c.send(appendPublish(c.pkt[:0], c.ackTopic, id, answer))
	c.f.answered.Add(1)
}

// fire runs a due timer.
func (c *car) fire(t timer, now int64) {
	switch t.kind {
	case timerTick:
		if c.f.stopping.Load() {
			return
		}
		c.due += int64(c.f.cfg.Interval)
		if c.due < now { // far behind (a stalled loop): skip, do not burst
			c.due = now + int64(c.f.cfg.Interval)
		}
		c.l.schedule(timer{at: c.due, car: c, kind: timerTick})
		if c.state == stateOnline && len(c.out) == 0 && len(c.inflight) < maxInflight {
			c.publish(now)
		} // else the tick is skipped, as a real car's would be while offline or stuck
	case timerRetry:
		if t.gen == c.gen && c.state == stateOff {
			c.connect()
		}
	case timerTimeout:
		if t.gen == c.gen && (c.state == stateConnecting || c.state == stateConnack) {
			c.close(errConnectTimeout)
		}
	}
}

func (c *car) publish(now int64) {
	c.f.published.Add(1)
	c.payload = c.model.Append(c.payload[:0], time.Unix(0, now))
	id := c.takeID()
	c.inflight = append(c.inflight, flight{id: id, telemetry: true, sent: now})
	c.pkt = appendPublish(c.pkt[:0], c.telTopic, id, c.payload)
	c.send(c.pkt)
}

// takeID returns a packet identifier not in flight [MQTT-2.3.1-2].
func (c *car) takeID() uint16 {
	for {
		id := c.nextID
		c.nextID++
		if c.nextID == 0 {
			c.nextID = 1
		}
		busy := false
		for _, fl := range c.inflight {
			busy = busy || fl.id == id
		}
		if !busy {
			return id
		}
	}
}

// send writes b, keeping what the socket does not take for when it is writable again.
func (c *car) send(b []byte) {
	if c.fd < 0 {
		return
	}
	c.lastSent = time.Now().UnixNano()
	if len(c.out) > 0 {
		if len(c.out)+len(b) > maxOut {
			c.close(errOutFull)
			return
		}
		c.out = append(c.out, b...)
		return
	}
	n, err := syscall.Write(c.fd, b)
	if err != nil && !errors.Is(err, syscall.EAGAIN) {
		c.close(fmt.Errorf("write: %w", err))
		return
	}
	n = max(n, 0)
	if n < len(b) {
		c.out = append(c.out, b[n:]...)
		c.l.watch(c.fd, true)
	}
}

func (c *car) flush() {
	n, err := syscall.Write(c.fd, c.out)
	if err != nil && !errors.Is(err, syscall.EAGAIN) {
		c.close(fmt.Errorf("write: %w", err))
		return
	}
	c.out = c.out[:copy(c.out, c.out[max(n, 0):])]
	if len(c.out) == 0 {
		c.l.watch(c.fd, false)
	}
}

// close ends the connection; unless the fleet is stopping (err == nil), the car reconnects to the
// next server after its reconnect period, longer after each failed attempt. Messages in flight
// failed: the car sends fresh telemetry after the reconnect, as fleet's Node clients do.
func (c *car) close(err error) {
	if c.fd >= 0 {
		_ = syscall.Close(c.fd) // also leaves the epoll set
		delete(c.l.byFD, int32(c.fd))
		c.fd = -1
	}
	if c.state == stateOff {
		return
	}
	stopping := c.f.stopping.Load() || err == nil
	was := c.state
	c.state = stateOff
	c.gen++
	c.in, c.out = c.in[:0], c.out[:0]
	if !stopping && len(c.inflight) > 0 {
		c.f.errs.Add(int64(len(c.inflight)))
	}
	c.inflight = c.inflight[:0]
	if was == stateOnline {
		c.f.connected.Add(-1)
		if !stopping {
			c.f.disconnects.Add(1)
			if c.f.cfg.OnLost != nil {
				c.f.cfg.OnLost(err)
			}
		}
	} else if !stopping {
		c.f.errs.Add(1)
		c.f.connectFailures.Add(1)
		c.failures++
		if c.f.cfg.OnConnect != nil {
			c.f.cfg.OnConnect(time.Duration(time.Now().UnixNano()-c.started), err)
		}
	}
	if stopping {
		return
	}
	c.server = (c.server + 1) % len(c.f.addrs)
	wait := c.f.jitter(min(30*time.Second, c.f.cfg.ReconnectPeriod<<min(c.failures, 4)))
	c.l.schedule(timer{at: time.Now().UnixNano() + int64(wait), car: c, kind: timerRetry, gen: c.gen})
}

// disconnect ends the session politely [MQTT-3.14].
func (c *car) disconnect() {
	if c.state == stateOnline {
		c.send(disconnect)
	}
	c.close(nil)
}

func (c *car) pingIfIdle(now int64, after time.Duration) {
	if c.state == stateOnline && now-c.lastSent >= int64(after) {
		c.send(pingreq)
	}
}

// source is the local address the car connects from (nil: the kernel's choice).
func (c *car) source() net.IP {
	if n := len(c.f.cfg.SourceAddrs); n > 0 {
		return c.f.cfg.SourceAddrs[c.index%n]
	}
	return nil
}

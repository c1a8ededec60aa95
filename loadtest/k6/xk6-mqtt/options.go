package mqtt

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"time"

	"github.com/grafana/sobek"

	"go.k6.io/k6/js/common"
)

// clientOptions are `new Client({...})`'s options; times in the JS API are milliseconds, except
// keepalive, which MQTT itself counts in seconds.
type clientOptions struct {
	host           string
	port           int
	clientID       string
	username       string
	password       string
	cleanSession   bool
	keepalive      time.Duration
	connectTimeout time.Duration
	publishTimeout time.Duration
	closeTimeout   time.Duration
	localAddress   *net.TCPAddr
	tls            *tls.Config // nil: plain TCP
}

func defaultClientOptions() clientOptions {
	return clientOptions{
		host:           "127.0.0.1",
		port:           1883,
		cleanSession:   true,
		keepalive:      60 * time.Second,
		connectTimeout: 10 * time.Second,
		publishTimeout: 10 * time.Second,
		closeTimeout:   5 * time.Second,
	}
}

func parseClientOptions(rt *sobek.Runtime, v sobek.Value) (clientOptions, error) {
	o := defaultClientOptions()
	if common.IsNullish(v) {
		return o, nil
	}
	obj := v.ToObject(rt)
	for _, key := range obj.Keys() {
		val := obj.Get(key)
		if common.IsNullish(val) {
			continue
		}
		switch key {
		case "host":
			o.host = val.String()
		case "port":
			o.port = int(val.ToInteger())
		case "clientId":
			o.clientID = val.String()
		case "username":
			o.username = val.String()
		case "password":
			o.password = val.String()
		case "cleanSession":
			o.cleanSession = val.ToBoolean()
		case "keepalive":
			o.keepalive = time.Duration(val.ToInteger()) * time.Second
		case "connectTimeout":
			o.connectTimeout = time.Duration(val.ToInteger()) * time.Millisecond
		case "publishTimeout":
			o.publishTimeout = time.Duration(val.ToInteger()) * time.Millisecond
		case "closeTimeout":
			o.closeTimeout = time.Duration(val.ToInteger()) * time.Millisecond
		case "localAddress":
			ip := net.ParseIP(val.String())
			if ip == nil {
				return o, fmt.Errorf("localAddress %q is not an IP address", val.String())
			}
			o.localAddress = &net.TCPAddr{IP: ip}
		case "tls":
			t, err := parseTLS(rt, val)
			if err != nil {
				return o, err
			}
			o.tls = t
		default:
			return o, fmt.Errorf("unknown client option %q", key)
		}
	}
	if o.tls != nil && o.tls.ServerName == "" {
		o.tls.ServerName = o.host
	}
	switch {
	case o.port < 1 || o.port > 65535:
		return o, fmt.Errorf("port %d is out of range", o.port)
	case o.keepalive < 0 || o.keepalive > 65535*time.Second:
		return o, fmt.Errorf("keepalive must be 0..65535 seconds")
	case o.connectTimeout <= 0 || o.publishTimeout <= 0 || o.closeTimeout < 0:
		return o, fmt.Errorf("timeouts must be positive")
	}
	return o, nil
}

// publishOptions are publish()'s third argument: { qos: 0 | 1, retain: false }.
type publishOptions struct {
	qos    byte
	retain bool
}

func parsePublishOptions(rt *sobek.Runtime, v sobek.Value) (publishOptions, error) {
	o := publishOptions{}
	if common.IsNullish(v) {
		return o, nil
	}
	obj := v.ToObject(rt)
	if q := obj.Get("qos"); !common.IsNullish(q) {
		switch q.ToInteger() {
		case 0:
			o.qos = 0
		case 1:
			o.qos = 1
		default:
			return o, fmt.Errorf("qos %s is not supported (0 or 1)", q.String())
		}
	}
	if r := obj.Get("retain"); !common.IsNullish(r) {
		o.retain = r.ToBoolean()
	}
	return o, nil
}

// parseTLS reads `tls: { ca: '<PEM>', serverName: 'broker.example' }`: the broker's certificate
// must chain to ca (the system roots when ca is absent) and name serverName (default: host).
func parseTLS(rt *sobek.Runtime, v sobek.Value) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	obj := v.ToObject(rt)
	for _, key := range obj.Keys() {
		val := obj.Get(key)
		if common.IsNullish(val) {
			continue
		}
		switch key {
		case "ca":
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM([]byte(val.String())) {
				return nil, fmt.Errorf("tls.ca: no PEM certificate in it")
			}
			cfg.RootCAs = pool
		case "serverName":
			cfg.ServerName = val.String()
		default:
			return nil, fmt.Errorf("unknown tls option %q (ca, serverName)", key)
		}
	}
	return cfg, nil
}

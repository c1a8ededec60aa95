package carfleet

import "encoding/binary"

// The two packets a car sends most, encoded into a reused buffer (Eclipse Paho's packets package
// allocates several buffers per packet). MQTT 3.1.1 §2.2 (fixed header), §3.3 (PUBLISH), §3.4.

// appendRemainingLength appends MQTT's variable-length integer [MQTT-2.2.3].
func appendRemainingLength(b []byte, n int) []byte {
	for {
		d := byte(n % 128)
		n /= 128
		if n > 0 {
			d |= 0x80
		}
		b = append(b, d)
		if n == 0 {
			return b
		}
	}
}

// appendPublish appends a PUBLISH at QoS 1 (0x32: type 3, QoS 1, no DUP, no RETAIN).
func appendPublish(b []byte, topic string, id uint16, payload []byte) []byte {
	b = append(b, 0x32)
	b = appendRemainingLength(b, 2+len(topic)+2+len(payload))
	b = binary.BigEndian.AppendUint16(b, uint16(len(topic)))
	b = append(b, topic...)
	b = binary.BigEndian.AppendUint16(b, id)
	return append(b, payload...)
}

// appendPuback appends a PUBACK [MQTT-3.4].
func appendPuback(b []byte, id uint16) []byte {
	return append(b, 0x40, 0x02, byte(id>>8), byte(id))
}

var (
	pingreq    = []byte{0xC0, 0x00}
	disconnect = []byte{0xE0, 0x00}
)

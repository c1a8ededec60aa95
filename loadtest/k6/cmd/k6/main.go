// Command k6 is k6 v1.8 with fleet's MQTT extension (k6/x/mqtt) compiled in; what xk6 would
// build, without xk6. scripts/build-k6.sh builds and caches it.
package main

import (
	k6cmd "go.k6.io/k6/cmd"

	_ "fleet/loadtest/k6/xk6-mqtt"
)

func main() {
	k6cmd.Execute()
}

# SPDX-License-Identifier: MIT
# shellcheck shell=bash
# Sourced by scripts/stack when HUB_NODES is 2 or more: a multi-node hub on
# loopback (docs/scaling.md), for tests and benchmarks.
#
#   HUB_NODES=3 scripts/stack start|stop|status
#
# starts a core broker and HUB_NODES edge brokers (n1..nN, each with
# hub_auth.so, joined by the bridges scripts/gen-bridges makes), hubd and
# hub-bridge on n1 and n2, and HAProxy (conf/haproxy/hub.cfg) in front of
# them. They share one store: PostgreSQL, a cluster of its own in DATA/pg
# (scripts/pg-temp: UNIX socket only, run by the services' account as
# root), unless HUB_STORE or the config's `store` names one already;
# HUB_NODES_STORE=sqlite puts them on one SQLite file in DATA instead.
# Ports, from the usual variables:
#   edge nI's MQTT     HUB_MQTT_PORT + I - 1     core: HUB_MQTT_PORT + N
#   HAProxy            HUB_HTTP_PORT (hubd's origin), HUB_SIO_PORT (Socket.IO)
#   hubd of nI         HUB_HTTP_PORT + I, its ws_port HUB_WS_PORT + I - 1
#   hub-bridge of nI   HUB_SIO_PORT + I
# Uses start_one, pid_of, wait_gone, private_dir, ... of scripts/stack.

NODES=${HUB_NODES}
[[ $NODES =~ ^[0-9]+$ ]] && [ "$NODES" -ge 2 ] && [ "$NODES" -le 9 ] ||
	die "HUB_NODES must be 2 to 9"
GATEWAYS="n1 n2"
NODES_STORE=${HUB_NODES_STORE:-postgresql}
PG_DIR=$DATA/pg
# as root the cluster runs as the services' account, which owns DATA
[ "$IS_ROOT" = 1 ] && id mosquitto >/dev/null 2>&1 && export HUB_PG_USER=mosquitto

# The config's own store setting, as written (a conninfo is no path).
conf_store() {
	[ -f "$HUB_CONFIG" ] || return 0
	sed -n 's/^[[:space:]]*store[[:space:]]*=[[:space:]]*//p' "$HUB_CONFIG" | tail -n 1 |
		sed -e 's/[[:space:]]*$//' -e 's/^"\(.*\)"$/\1/'
}

# The store every node uses: exports HUB_STORE for the processes started
# after it (hc_config reads HUB_* after the file). PG_OWN=1 when it is the
# stack's own cluster.
PG_OWN=0
nodes_store() {
	local ci
	if [ -n "${HUB_STORE:-}" ] || [ -n "$(conf_store)" ]; then
		return 0
	fi
	case $NODES_STORE in
	sqlite) return 0 ;;
	postgresql) ;;
	*) die "HUB_NODES_STORE must be postgresql or sqlite" ;;
	esac
	if grep -q '^HUB_SANITIZE:BOOL=ON' "$BUILD/CMakeCache.txt" 2>/dev/null; then
		# the brokers get the ASan runtime preloaded, and with it libpq's
		# first connect hangs (docs/testing.md)
		say "a sanitizer build: the nodes share one SQLite file instead of PostgreSQL"
		return 0
	fi
	"$ROOT/scripts/pg-temp" available ||
		die "PostgreSQL is missing (scripts/deps installs it; HUB_NODES_STORE=sqlite runs the nodes on one SQLite file)"
	ci=$("$ROOT/scripts/pg-temp" start "$PG_DIR") || die "PostgreSQL did not start (log: $PG_DIR/server.log)"
	export HUB_STORE=$ci
	PG_OWN=1
}

store_desc() {
	if [ "$PG_OWN" = 1 ]; then
		echo "PostgreSQL in $PG_DIR ($HUB_STORE)"
	elif [ -n "${HUB_STORE:-}" ] || [ -n "$(conf_store)" ]; then
		echo "the configured store"
	else
		echo "SQLite, $DATA/hub.db"
	fi
}

node_list() { # core n1 .. nN
	echo core
	seq -f 'n%g' 1 "$NODES"
}

mqtt_port_of() { # node
	case $1 in
	core) echo $((MQTT_PORT + NODES)) ;;
	*) echo $((MQTT_PORT + ${1#n} - 1)) ;;
	esac
}

nodes_services() { # in start order
	local n
	for n in $(node_list); do echo "broker-$n"; done
	for n in $GATEWAYS; do echo "hubd-$n" "bridge-$n"; done
	echo haproxy
}

# The settings of one node's processes (their environment: hc_config
# reads HUB_* after the config file).
node_env() { # node
	local n=$1 i=${1#n}
	printf '%s\n' "HUB_MQTT_PORT=$(mqtt_port_of "$n")" "HUB_NODE_NAME=$n" \
		"HUB_LINK_KEY_FILE=$DATA/link.key"
	if [ "$n" = core ]; then
		echo HUB_NODE_ROLE=core
	else
		echo HUB_NODE_ROLE=edge
		printf '%s\n' "HUB_HTTP_PORT=$((HTTP_PORT + i))" "HUB_WS_PORT=$((WS_PORT + i - 1))" \
			"HUB_SIO_PORT=$((SIO_PORT + i))" "HUB_SIO_SID_TAG=$n" HUB_TRUST_PROXY=true
	fi
}

nodes_prepare() {
	local n p ports="" owner=()
	[ -x "$BIN/hubctl" ] && [ -f "$BUILD/lib/hub_auth.so" ] && [ -x "$BIN/hub-logpipe" ] &&
		[ -x "$BIN/hub-bridge" ] || die "not built: run 'make' first (looked in $BUILD)"
	command -v haproxy >/dev/null || die "haproxy is missing (scripts/deps installs it)"
	mkdir -p "$DATA"
	if [ "$IS_ROOT" = 1 ] && id mosquitto >/dev/null 2>&1; then
		chown mosquitto:mosquitto "$DATA"
		chmod 750 "$DATA"
		owner=(--owner mosquitto)
	fi
	private_dir "$RUN"
	private_dir "$LOGS"
	for n in $(node_list); do ports="$ports $(mqtt_port_of "$n")"; done
	for n in $GATEWAYS; do
		ports="$ports $((HTTP_PORT + ${n#n})) $((SIO_PORT + ${n#n})) $((WS_PORT + ${n#n} - 1))"
	done
	for p in $ports $HTTP_PORT $SIO_PORT; do
		port_open "$p" && die "port $p is in use (another hub?)"
	done
	for n in $(node_list); do
		printf '%s %s 127.0.0.1 %s\n' "$([ "$n" = core ] && echo core || echo edge)" "$n" \
			"$(mqtt_port_of "$n")"
	done > "$RUN/nodes"
	# the link secret lives with the data (the plugin reads it as the
	# broker's account); the bridge configurations, which hold it too,
	# with the stack's own files (mosquitto reads them as root)
	"$ROOT/scripts/gen-bridges" "$RUN/nodes" "$RUN/links" --key "$DATA/link.key" \
		"${owner[@]}" >/dev/null
	for n in $(node_list); do
		mkdir -p "$DATA/node-$n"
		[ ${#owner[@]} = 0 ] || chown mosquitto:mosquitto "$DATA/node-$n"
		sed -e "s|^listener 1883 |listener $(mqtt_port_of "$n") |" \
		    -e "s|^plugin build/|plugin $BUILD/|" \
		    -e "s|^plugin_opt_config conf/hub.conf|plugin_opt_config $HUB_CONFIG|" \
		    -e "s|^persistence_location data/|persistence_location $DATA/node-$n/|" \
		    "$ROOT/conf/mosquitto.conf" > "$RUN/mosquitto-$n.conf"
		[ "$n" = core ] || printf '\ninclude_dir %s\n' "$RUN/links/$n" >> "$RUN/mosquitto-$n.conf"
	done
}

nodes_start_one() { # name port node command...
	local name=$1 port=$2 node=$3 envs
	shift 3
	mapfile -t envs < <(node_env "$node")
	start_one "$name" "$port" env "${envs[@]}" "$@" || exited_at_start "$name"
}

nodes_start() {
	local s n bcmd
	for s in $(nodes_services); do running "$s" && die "$s is already running (HUB_NODES=$NODES scripts/stack stop)"; done
	nodes_prepare
	nodes_store
	# hubd of n1 first: on a first start it makes the store and the demo
	# data the brokers load (its broker link retries until n1 is up)
	nodes_start_one hubd-n1 $((HTTP_PORT + 1)) n1 "$BIN/hubd"
	for n in $(node_list); do
		mapfile -t bcmd < <(broker_cmd "$RUN/mosquitto-$n.conf")
		nodes_start_one "broker-$n" "$(mqtt_port_of "$n")" "$n" "${bcmd[@]}"
	done
	nodes_start_one hubd-n2 $((HTTP_PORT + 2)) n2 "$BIN/hubd"
	for n in $GATEWAYS; do
		nodes_start_one "bridge-$n" $((SIO_PORT + ${n#n})) "$n" "$BIN/hub-bridge"
	done
	start_one haproxy "$SIO_PORT" env "HUB_LB_HTTP=127.0.0.1:$HTTP_PORT" \
		"HUB_LB_SIO=127.0.0.1:$SIO_PORT" "HUB_HUBD1=127.0.0.1:$((HTTP_PORT + 1))" \
		"HUB_HUBD2=127.0.0.1:$((HTTP_PORT + 2))" "HUB_SIO1=127.0.0.1:$((SIO_PORT + 1))" \
		"HUB_SIO2=127.0.0.1:$((SIO_PORT + 2))" haproxy -db -f "$ROOT/conf/haproxy/hub.cfg" ||
		exited_at_start haproxy
	say "multi-node hub running: $NODES edges and a core (docs/scaling.md)"
	for n in $(node_list); do
		say "  broker $n: MQTT 127.0.0.1:$(mqtt_port_of "$n")$([ "$n" = core ] && echo " (links only)")"
	done
	say "  HAProxy: http://127.0.0.1:$HTTP_PORT/ (hubd n1, n2), Socket.IO http://127.0.0.1:$SIO_PORT"
	say "  store: $(store_desc)"
	[ "$PG_OWN" = 1 ] && say "  hubctl on it: HUB_DATA_DIR=$DATA HUB_STORE='$HUB_STORE' $BIN/hubctl ..."
	say "  logs: $LOGS"
}

nodes_stop() {
	local s pid
	for s in haproxy bridge-n2 bridge-n1 hubd-n2 hubd-n1 $(seq -f 'broker-n%g' "$NODES" -1 1) broker-core; do
		if pid=$(pid_of "$s"); then
			kill -TERM "$pid" 2>/dev/null || true
			wait_gone "$pid" 100 || kill -KILL "$pid" 2>/dev/null || true
			say "stopped $s"
		fi
		if pid=$(pid_of "$s.logpipe"); then
			wait_gone "$pid" 50 || kill -TERM "$pid" 2>/dev/null || true
		fi
		rm -f "$RUN/$s.pid" "$RUN/$s.logpipe.pid"
	done
	# the stack's own cluster stops last (its data stays, like hub.db)
	if "$ROOT/scripts/pg-temp" running "$PG_DIR"; then
		"$ROOT/scripts/pg-temp" stop-server "$PG_DIR" && say "stopped PostgreSQL ($PG_DIR)"
	fi
}

nodes_status() {
	local s rc=0
	for s in $(nodes_services); do
		if running "$s"; then
			printf '%-12s running (pid %s)\n' "$s" "$(pid_of "$s")"
		else
			printf '%-12s stopped\n' "$s"
			rc=3
		fi
	done
	if [ -f "$PG_DIR/data/PG_VERSION" ]; then
		if "$ROOT/scripts/pg-temp" running "$PG_DIR"; then
			printf '%-12s running (%s)\n' postgresql "$PG_DIR"
		else
			printf '%-12s stopped\n' postgresql
			[ "$NODES_STORE" = postgresql ] && [ -z "${HUB_STORE:-}" ] && [ -z "$(conf_store)" ] && rc=3
		fi
	fi
	printf 'logs         %s\n' "$LOGS"
	return $rc
}

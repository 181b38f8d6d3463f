"""bench/confluent_peer.py N BOOTSTRAP: the Python peer of
bench/producer_bench.lua.  confluent-kafka-python (build/pybench, made by
.ci/pybench against the librdkafka insync links) sends N records of 100
bytes with acks=all to topic "bench" of the cluster at BOOTSTRAP, with an
on_delivery callback per send and poll(0) after each, as the C baseline and
the Lua peers do; prints the same key=value lines as the C baseline."""
import sys
import time

from confluent_kafka import Producer

n, bootstrap = int(sys.argv[1]), sys.argv[2]
p = Producer({"bootstrap.servers": bootstrap, "acks": "all"})
count = {"delivered": 0, "failed": 0}


def on_delivery(err, _msg):
    if err is None:
        count["delivered"] += 1
    else:
        count["failed"] += 1


value = b"x" * 100
produce, poll = p.produce, p.poll
t0, c0 = time.monotonic(), time.thread_time()
for _ in range(n):
    while True:
        try:
            produce("bench", value, on_delivery=on_delivery)
            break
        except BufferError:
            poll(0.001)
    poll(0)
left = p.flush(60)
secs, cpu = time.monotonic() - t0, time.thread_time() - c0
print("messages=%d" % n)
print("delivered=%d" % count["delivered"])
print("failed=%d" % count["failed"])
print("main_thread_cpu_seconds=%.3f" % cpu)
print("msgs_per_sec=%.0f" % (n / secs))
sys.exit(0 if left == 0 and count["delivered"] == n else 1)

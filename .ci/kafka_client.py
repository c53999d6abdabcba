"""An independent Kafka client for the end-to-end check (confluent-kafka).

    kafka_client.py produce BROKERS TOPIC FILE FROM TO   # lines FROM..TO of FILE, key = tenant
    kafka_client.py produce-raw BROKERS TOPIC KEY TEXT    # one message as given
    kafka_client.py dlq BROKERS TOPIC                     # print dead-letter messages as JSON lines
    kafka_client.py standing BROKERS TOPIC                # the newest standing facts per tenant, as JSON lines
"""
import json
import sys

from confluent_kafka import Consumer, Producer


def produce(brokers, topic, path, start, end):
    p = Producer({"bootstrap.servers": brokers, "linger.ms": 5})
    with open(path, encoding="utf-8") as f:
        lines = f.read().splitlines()[int(start):int(end)]
    for line in lines:
        tenant = json.loads(line)["tenant"]
        p.produce(topic, key=tenant.encode(), value=line.encode())
        p.poll(0)
    left = p.flush(30)
    if left:
        sys.exit(f"{left} messages not delivered")
    print(f"produced {len(lines)}")


def produce_raw(brokers, topic, key, text):
    p = Producer({"bootstrap.servers": brokers})
    p.produce(topic, key=key.encode(), value=text.encode())
    if p.flush(30):
        sys.exit("not delivered")


def read_topic(brokers, topic, group):
    """Every message of a topic from its start: up to a minute for the first,
    then until a second passes without one."""
    c = Consumer({"bootstrap.servers": brokers, "group.id": group,
                  "auto.offset.reset": "earliest"})
    c.subscribe([topic])
    seen = 0
    for _ in range(60):
        m = c.poll(1.0)
        if m is None or m.error():
            if seen:
                break
            continue
        seen += 1
        yield m
    c.close()


def dlq(brokers, topic):
    for m in read_topic(brokers, topic, "e2e-dlq-reader"):
        headers = {k: v.decode() for k, v in (m.headers() or [])}
        print(json.dumps({"value": m.value().decode(errors="replace"), "headers": headers}))


def standing(brokers, topic):
    newest = {m.key().decode(): json.loads(m.value())
              for m in read_topic(brokers, topic, "e2e-standing-reader")}
    for key, value in sorted(newest.items()):
        print(json.dumps({"key": key, "tenant": value["tenant"], "as_of": value["as_of"],
                          "agents": len(value.get("agents", []))}))


if __name__ == "__main__":
    cmd, *args = sys.argv[1:]
    {"produce": produce, "produce-raw": produce_raw, "dlq": dlq, "standing": standing}[cmd](*args)

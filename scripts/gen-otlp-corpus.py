#!/usr/bin/env python3
"""Writes the seed corpus for tests/fuzz/corpus/otlp_pb/ with a tiny
hand-rolled protobuf writer (no protobuf package needed). Run from the
repository root: python3 scripts/gen-otlp-corpus.py"""
import os
import struct


def varint(v):
    out = bytearray()
    v &= (1 << 64) - 1
    while v >= 0x80:
        out.append((v & 0x7F) | 0x80)
        v >>= 7
    out.append(v)
    return bytes(out)


def tag(f, wt):
    return varint(f << 3 | wt)


def ld(f, b):
    return tag(f, 2) + varint(len(b)) + b


def uint(f, v):
    return tag(f, 0) + varint(v)


def fixed64(f, v):
    return tag(f, 1) + struct.pack("<Q", v)


def kv(k, any_):
    return ld(1, k.encode()) + ld(2, any_)


def s(v):
    return ld(1, v.encode())


def span(i, attrs, events=b"", status=b""):
    b = ld(1, bytes(range(1, 17))) + ld(2, bytes([0x40 + i] * 8))
    b += ld(4, bytes([0x80] * 8)) + ld(5, b"chat gpt-4o") + uint(6, 3)
    b += fixed64(7, 1700000000000000000 + i) + fixed64(8, 1700000000850000000 + i)
    for a in attrs:
        b += ld(9, a)
    return b + events + status


def request(spans, service="agent"):
    res = ld(1, kv("service.name", s(service)))
    scope = ld(1, ld(1, b"opentelemetry.instrumentation.openai") + ld(2, b"0.48b0"))
    ss = scope + b"".join(ld(2, sp) for sp in spans)
    return ld(1, ld(1, res) + ld(2, ss))


def main():
    out = "tests/fuzz/corpus/otlp_pb"
    os.makedirs(out, exist_ok=True)
    genai = [
        kv("gen_ai.operation.name", s("chat")),
        kv("gen_ai.request.model", s("gpt-4o")),
        kv("gen_ai.usage.input_tokens", uint(3, 1234)),
        kv("gen_ai.request.temperature", fixed64(4, 0x3FE6666666666666)),
        kv("flag", uint(2, 1)),
        kv("raw", ld(7, b"\x00\xff")),
        kv("finish", ld(5, ld(1, s("stop")) + ld(1, ld(5, ld(1, uint(3, 7)))))),
        kv("map", ld(6, ld(1, kv("k", s("v"))))),
    ]
    event = ld(11, fixed64(1, 5) + ld(2, b"gen_ai.choice") + ld(3, kv("i", uint(3, 0))))
    status = ld(15, ld(2, b"boom") + uint(3, 2))
    seeds = {
        "empty": b"",
        "one_span": request([span(0, genai[:2])]),
        "genai_full": request([span(i, genai, event, status) for i in range(4)]),
        "two_resources": request([span(1, genai[:1])], "a") + request([span(2, [])], "b"),
        "bad_trace_id": request([ld(1, b"short") + ld(2, bytes(8))]),
    }
    for name, data in seeds.items():
        with open(os.path.join(out, name + ".bin"), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main()

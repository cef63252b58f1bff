#!/usr/bin/python3
"""check-fmt-double.py - compare am_fmt_double with a reference on stdin lines
"HEXBITS TEXT" (test_fmt --dump N). The reference is CPython's repr, David
Gay's shortest round-trip dtoa (the shortest digits that read back, the
closest of those to the value, as Go's strconv picks them), laid out as Go's
FormatFloat(v, 'g', -1, 64): exponent form when the decimal exponent is
< -4 or >= 6, mantissa digits as they are, exponent with a sign and at
least two digits. Prints "N passed, N failed"; exits 1 on any mismatch."""
import struct
import sys


def go_g(v):
    if v != v:
        return "NaN"
    if v in (float("inf"), float("-inf")):
        return "+Inf" if v > 0 else "-Inf"
    r = repr(v)
    neg = r.startswith("-")
    if neg:
        r = r[1:]
    mant, _, exp = r.partition("e")
    exp = int(exp) if exp else 0
    ip, _, fp = mant.partition(".")
    if fp == "0":
        fp = ""
    digits = (ip + fp).lstrip("0")
    # decimal exponent of the first significant digit
    if ip.strip("0"):
        e10 = len(ip.lstrip("0")) - 1 + exp
    elif digits:
        e10 = -(len(fp) - len(fp.lstrip("0"))) - 1 + exp
    else:
        return "-0" if neg else "0"
    digits = digits.rstrip("0") or "0"
    sign = "-" if neg else ""
    if e10 < -4 or e10 >= 6:
        m = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        return "%s%se%s%02d" % (sign, m, "-" if e10 < 0 else "+", abs(e10))
    if e10 >= 0:
        ip = digits[: e10 + 1].ljust(e10 + 1, "0")
        fp = digits[e10 + 1:]
    else:
        ip = "0"
        fp = "0" * (-e10 - 1) + digits
    return sign + ip + ("." + fp if fp else "")


def main():
    passed = failed = 0
    for line in sys.stdin:
        bits, text = line.split()
        v = struct.unpack("<d", bytes.fromhex(bits)[::-1])[0]
        want = go_g(v)
        if text == want:
            passed += 1
        else:
            failed += 1
            if failed <= 20:
                print("%s (%r): got %s, want %s" % (bits, v, text, want))
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed or passed == 0 else 0


if __name__ == "__main__":
    sys.exit(main())

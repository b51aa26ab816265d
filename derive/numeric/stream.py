"""The random test points of verification, drawn without NumPy: NumPy's own stream, in plain Python.

`default_rng(seed).uniform(low, high[, size])` gives exactly the numbers
`numpy.random.default_rng(seed).uniform(low, high[, size])` gives (the same
seeding, SeedSequence, the same generator, PCG64, and the same
53-bit doubles; tests/test_scalar_backend.py compares the two). So every
verifier draws the same points whether it then computes with NumPy or with
the `math` module (derive.numeric.scalar), and a verdict or a printed
largest difference never depends on which one ran. Importing NumPy costs a
small network's run about as much as its whole verification.
"""

from __future__ import annotations

_M32 = 0xFFFFFFFF
_M64 = 0xFFFFFFFFFFFFFFFF
_M128 = (1 << 128) - 1
_MULTIPLIER = (2549297995355413924 << 64) + 4865540595714422341  # PCG's 128-bit multiplier

# SeedSequence's hash constants (numpy/random/bit_generator.pyx)
_INIT_A, _MULT_A, _INIT_B, _MULT_B = 0x43B0D7E5, 0x931E8875, 0x8B51F9DD, 0x58F38DED
_MIX_L, _MIX_R, _POOL = 0xCA01F9DD, 0x4973F715, 4


def _words32(n: int) -> list[int]:
    """A non-negative integer as little-endian 32-bit words ([0] for 0)."""
    if n < 0:
        raise ValueError("a seed is a non-negative integer")
    words = [n & _M32] if n == 0 else []
    while n > 0:
        words.append(n & _M32)
        n >>= 32
    return words


def _pool(seed: int) -> list[int]:
    """SeedSequence's entropy pool of four 32-bit words."""
    const = [_INIT_A]

    def hashmix(value: int) -> int:
        value ^= const[0]
        const[0] = (const[0] * _MULT_A) & _M32
        value = (value * const[0]) & _M32
        return value ^ (value >> 16)

    def mix(x: int, y: int) -> int:
        result = (_MIX_L * x - _MIX_R * y) & _M32
        return result ^ (result >> 16)

    entropy = _words32(seed)
    pool = [hashmix(entropy[i] if i < len(entropy) else 0) for i in range(_POOL)]
    for src in range(_POOL):
        for dst in range(_POOL):
            if src != dst:
                pool[dst] = mix(pool[dst], hashmix(pool[src]))
    for word in entropy[_POOL:]:
        for dst in range(_POOL):
            pool[dst] = mix(pool[dst], hashmix(word))
    return pool


def _state64(pool: list[int], n: int) -> list[int]:
    """SeedSequence.generate_state(n, uint64)."""
    const, words = _INIT_B, []
    for i in range(2 * n):
        value = pool[i % _POOL] ^ const
        const = (const * _MULT_B) & _M32
        value = (value * const) & _M32
        words.append(value ^ (value >> 16))
    return [words[2 * i] | (words[2 * i + 1] << 32) for i in range(n)]


class Stream:
    """PCG64 (XSL-RR 128/64) seeded as numpy.random.default_rng(seed) seeds it."""

    def __init__(self, seed: int = 0):
        s = _state64(_pool(int(seed)), 4)
        self._inc = ((((s[2] << 64) | s[3]) << 1) | 1) & _M128
        self._state = 0
        self._step()
        self._state = (self._state + ((s[0] << 64) | s[1])) & _M128
        self._step()

    def _step(self) -> None:
        self._state = (self._state * _MULTIPLIER + self._inc) & _M128

    def next64(self) -> int:
        self._step()
        state = self._state
        value, rot = ((state >> 64) ^ state) & _M64, state >> 122
        return ((value >> rot) | (value << (-rot & 63))) & _M64

    def random(self) -> float:
        """A double in [0, 1) from the top 53 bits."""
        return (self.next64() >> 11) * (1.0 / 9007199254740992.0)

    def uniform(self, low: float = 0.0, high: float = 1.0, size: int | None = None):
        """low + (high − low)·U, one float, or a list of `size` of them (NumPy gives an array)."""
        span = high - low
        if size is None:
            return low + span * self.random()
        return [low + span * self.random() for _ in range(size)]


def default_rng(seed: int = 0) -> Stream:
    return Stream(seed)


def pairwise_sum(xs: list[float]) -> float:
    """Σ xs in NumPy's order of additions (its pairwise summation of float64), so both backends normalise alike."""
    n = len(xs)
    if n < 8:
        total = -0.0
        for x in xs:
            total += x
        return total
    if n <= 128:
        r = list(xs[:8])
        i = 8
        while i < n - n % 8:
            for j in range(8):
                r[j] += xs[i + j]
            i += 8
        total = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]))
        for x in xs[i:]:
            total += x
        return total
    half = n // 2
    half -= half % 8
    return pairwise_sum(xs[:half]) + pairwise_sum(xs[half:])

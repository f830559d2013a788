/* Keccak-256 (Ethereum's keccak256: original Keccak padding 0x01, not SHA3's 0x06) and whole
 * merkle levels hashed in one call, so Python creates no object per node.
 *
 * Written from FIPS 202: Keccak-f[1600] (section 3.3, 24 rounds of theta, rho, pi, chi, iota on
 * 25 little-endian 64-bit lanes, lane (x, y) at index x + 5y), sponge with rate 1088 bits and
 * capacity 512 (section 4) and the multi-rate padding pad10*1 (section 5.1) applied to the
 * message with no domain suffix, i.e. the byte 0x01 after the message and 0x80 in the last byte
 * of the block. The constants were computed from the spec's definitions (rho offsets from the
 * (x, y) -> (y, 2x + 3y) walk, round constants from the rc(t) LFSR); tests check the results
 * against pysha3 / eth_hash.
 *
 * Built by `python -m zerog_storage.native_build` and loaded with ctypes (no Python.h).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define ZG_ABI_VERSION 1
#define RATE 136 /* bytes: (1600 - 2 * 256) / 8 */
#define RATE_LANES (RATE / 8)
#define DIGEST 32

static const uint64_t ROUND_CONSTANTS[24] = {
    0x0000000000000001ULL, 0x0000000000008082ULL, 0x800000000000808aULL, 0x8000000080008000ULL,
    0x000000000000808bULL, 0x0000000080000001ULL, 0x8000000080008081ULL, 0x8000000000008009ULL,
    0x000000000000008aULL, 0x0000000000000088ULL, 0x0000000080008009ULL, 0x000000008000000aULL,
    0x000000008000808bULL, 0x800000000000008bULL, 0x8000000000008089ULL, 0x8000000000008003ULL,
    0x8000000000008002ULL, 0x8000000000000080ULL, 0x000000000000800aULL, 0x800000008000000aULL,
    0x8000000080008081ULL, 0x8000000000008080ULL, 0x0000000080000001ULL, 0x8000000080008008ULL,
};

/* rho and pi as keccak_f1600 below writes them out, for lanes i = x + 5y = 0..24:
 *   rho rotates lane i left by
 *     0  1 62 28 27 36 44  6 55 20  3 10 43 25 39 41 45 15 21  8 18  2 61 56 14
 *   pi moves lane i, i.e. (x, y), to lane (y, 2x + 3y mod 5):
 *     0 10 20  5 15 16  1 11 21  6  7 17  2 12 22 23  8 18  3 13 14 24  9 19  4 */

static inline uint64_t rol64(uint64_t v, unsigned n) {
    return n ? (v << n) | (v >> (64 - n)) : v;
}

static inline uint64_t load64(const uint8_t *p) {
    uint64_t v;
    memcpy(&v, p, 8);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    v = __builtin_bswap64(v);
#endif
    return v;
}

static inline void store64(uint8_t *p, uint64_t v) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    v = __builtin_bswap64(v);
#endif
    memcpy(p, &v, 8);
}

/* The lanes live in 25 locals and the tables above are written out as literals: indexing arrays
 * through the tables left the state in memory with gcc 12 -O3 (measured 2.4x slower). */
static void keccak_f1600(uint64_t s[25]) {
    uint64_t a00 = s[0], a01 = s[1], a02 = s[2], a03 = s[3], a04 = s[4];
    uint64_t a05 = s[5], a06 = s[6], a07 = s[7], a08 = s[8], a09 = s[9];
    uint64_t a10 = s[10], a11 = s[11], a12 = s[12], a13 = s[13], a14 = s[14];
    uint64_t a15 = s[15], a16 = s[16], a17 = s[17], a18 = s[18], a19 = s[19];
    uint64_t a20 = s[20], a21 = s[21], a22 = s[22], a23 = s[23], a24 = s[24];
    for (int round = 0; round < 24; round++) {
        /* theta */
        uint64_t c0 = a00 ^ a05 ^ a10 ^ a15 ^ a20;
        uint64_t c1 = a01 ^ a06 ^ a11 ^ a16 ^ a21;
        uint64_t c2 = a02 ^ a07 ^ a12 ^ a17 ^ a22;
        uint64_t c3 = a03 ^ a08 ^ a13 ^ a18 ^ a23;
        uint64_t c4 = a04 ^ a09 ^ a14 ^ a19 ^ a24;
        uint64_t d0 = c4 ^ rol64(c1, 1);
        uint64_t d1 = c0 ^ rol64(c2, 1);
        uint64_t d2 = c1 ^ rol64(c3, 1);
        uint64_t d3 = c2 ^ rol64(c4, 1);
        uint64_t d4 = c3 ^ rol64(c0, 1);
        /* rho and pi: lane i rotated by its rho offset moves to its pi place */
        uint64_t b00, b01, b02, b03, b04, b05, b06, b07, b08, b09, b10, b11, b12;
        uint64_t b13, b14, b15, b16, b17, b18, b19, b20, b21, b22, b23, b24;
        b00 = rol64(a00 ^ d0, 0);
        b10 = rol64(a01 ^ d1, 1);
        b20 = rol64(a02 ^ d2, 62);
        b05 = rol64(a03 ^ d3, 28);
        b15 = rol64(a04 ^ d4, 27);
        b16 = rol64(a05 ^ d0, 36);
        b01 = rol64(a06 ^ d1, 44);
        b11 = rol64(a07 ^ d2, 6);
        b21 = rol64(a08 ^ d3, 55);
        b06 = rol64(a09 ^ d4, 20);
        b07 = rol64(a10 ^ d0, 3);
        b17 = rol64(a11 ^ d1, 10);
        b02 = rol64(a12 ^ d2, 43);
        b12 = rol64(a13 ^ d3, 25);
        b22 = rol64(a14 ^ d4, 39);
        b23 = rol64(a15 ^ d0, 41);
        b08 = rol64(a16 ^ d1, 45);
        b18 = rol64(a17 ^ d2, 15);
        b03 = rol64(a18 ^ d3, 21);
        b13 = rol64(a19 ^ d4, 8);
        b14 = rol64(a20 ^ d0, 18);
        b24 = rol64(a21 ^ d1, 2);
        b09 = rol64(a22 ^ d2, 61);
        b19 = rol64(a23 ^ d3, 56);
        b04 = rol64(a24 ^ d4, 14);
        /* chi, row by row, then iota */
        a00 = b00 ^ (~b01 & b02);
        a01 = b01 ^ (~b02 & b03);
        a02 = b02 ^ (~b03 & b04);
        a03 = b03 ^ (~b04 & b00);
        a04 = b04 ^ (~b00 & b01);
        a05 = b05 ^ (~b06 & b07);
        a06 = b06 ^ (~b07 & b08);
        a07 = b07 ^ (~b08 & b09);
        a08 = b08 ^ (~b09 & b05);
        a09 = b09 ^ (~b05 & b06);
        a10 = b10 ^ (~b11 & b12);
        a11 = b11 ^ (~b12 & b13);
        a12 = b12 ^ (~b13 & b14);
        a13 = b13 ^ (~b14 & b10);
        a14 = b14 ^ (~b10 & b11);
        a15 = b15 ^ (~b16 & b17);
        a16 = b16 ^ (~b17 & b18);
        a17 = b17 ^ (~b18 & b19);
        a18 = b18 ^ (~b19 & b15);
        a19 = b19 ^ (~b15 & b16);
        a20 = b20 ^ (~b21 & b22);
        a21 = b21 ^ (~b22 & b23);
        a22 = b22 ^ (~b23 & b24);
        a23 = b23 ^ (~b24 & b20);
        a24 = b24 ^ (~b20 & b21);
        a00 ^= ROUND_CONSTANTS[round];
    }
    s[0] = a00; s[1] = a01; s[2] = a02; s[3] = a03; s[4] = a04;
    s[5] = a05; s[6] = a06; s[7] = a07; s[8] = a08; s[9] = a09;
    s[10] = a10; s[11] = a11; s[12] = a12; s[13] = a13; s[14] = a14;
    s[15] = a15; s[16] = a16; s[17] = a17; s[18] = a18; s[19] = a19;
    s[20] = a20; s[21] = a21; s[22] = a22; s[23] = a23; s[24] = a24;
}

static void keccak256(const uint8_t *in, size_t len, uint8_t *out) {
    uint64_t s[25] = {0};
    for (; len >= RATE; in += RATE, len -= RATE) {
        for (int i = 0; i < RATE_LANES; i++) {
            s[i] ^= load64(in + 8 * i);
        }
        keccak_f1600(s);
    }
    uint8_t last[RATE] = {0};
    memcpy(last, in, len);
    last[len] ^= 0x01;
    last[RATE - 1] ^= 0x80;
    for (int i = 0; i < RATE_LANES; i++) {
        s[i] ^= load64(last + 8 * i);
    }
    keccak_f1600(s);
    for (int i = 0; i < DIGEST / 8; i++) {
        store64(out + 8 * i, s[i]);
    }
}

int zg_abi_version(void) { return ZG_ABI_VERSION; }

/* keccak256 of in[0:len] into out[0:32]. */
void zg_keccak256(const uint8_t *in, size_t len, uint8_t *out) { keccak256(in, len, out); }

/* The hashes of `count` consecutive nodes of `node_len` bytes, into out[0:32 * count]. With
 * node_len 64 this is the next level of a tree from a level's concatenated hashes; out may be
 * the input itself (node i is read before hash i is written, and 32 * i < 64 * i + 64). */
void zg_hash_nodes(const uint8_t *in, size_t node_len, size_t count, uint8_t *out) {
    uint8_t digest[DIGEST];
    for (size_t i = 0; i < count; i++) {
        keccak256(in + i * node_len, node_len, digest);
        memcpy(out + i * DIGEST, digest, DIGEST);
    }
}

/* The roots of `count` consecutive full subtrees, each 2**height leaves of `leaf_len` bytes
 * (a leaf's hash is keccak256(leaf), a parent's keccak256(left || right)), into
 * out[0:32 * count]. Returns 0, or -1 when the scratch level cannot be allocated. */
int zg_subtree_roots(const uint8_t *in, size_t leaf_len, unsigned height, size_t count,
                     uint8_t *out) {
    size_t leaves = (size_t)1 << height;
    uint8_t *level = malloc(leaves * DIGEST);
    if (level == NULL) {
        return -1;
    }
    for (size_t t = 0; t < count; t++) {
        zg_hash_nodes(in + t * leaves * leaf_len, leaf_len, leaves, level);
        for (size_t n = leaves / 2; n >= 1; n /= 2) {
            zg_hash_nodes(level, 2 * DIGEST, n, level);
        }
        memcpy(out + t * DIGEST, level, DIGEST);
    }
    free(level);
    return 0;
}

// loadgen: an independent one-way latency generator for GameRelay and TURN (coturn --no-auth).
//
// One thread, epoll; one UDP socket per member (the member's own receive socket), recvmmsg on
// the receive side. Senders pace at --rate per member with phases spread evenly over one
// interval (a timerfd at the next due send). Each datagram carries its CLOCK_MONOTONIC send
// time (taken right before its own send call) and its CLOCK_REALTIME send time; latency is
// receive time minus send time on the same host:
//   user   = CLOCK_MONOTONIC after the recvmmsg that returned it (what an application sees)
//   kernel = SO_TIMESTAMPNS (the datagram reaching the receive socket) against the realtime stamp,
//            i.e. without the generator's own receive path.
// GameRelay: TCP control channel per member (hello, create/join), BIND with the token, the
// cookie BIND_ACK, BIND again with the cookie, then DATA to 0xFFFF.
// TURN: Allocate per member (no auth), then ChannelBind on each sender's allocation, channel
// 0x4000+j to member j's own UDP socket ("direct peers"), then one ChannelData per receiver.
// Loopback only (127.0.0.1).
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

enum { PROTO_GAMERELAY, PROTO_TURN };

static struct {
    int protocol;
    const char *host;
    int port;
    int sessions, members;
    double rate;
    int payload;
    double duration, warmup;
    int per_message_stamp;   // TURN: one send time for all of a message's ChannelData
    int relay_pid;
    int verbose;
    int busy_poll;           // never sleep in epoll_wait (timeout 0): the relay never has to wake us
    int tick_us;             // send only on a tick of this period (µs), everything due at once, like `gamerelay bench` (1000)
} opt = { PROTO_GAMERELAY, "127.0.0.1", 7400, 50, 8, 30.0, 100, 10.0, 2.0, 0, 0, 0, 0, 0 };

static void die(const char *fmt, ...) {
    va_list ap; va_start(ap, fmt);
    fprintf(stderr, "loadgen: "); vfprintf(stderr, fmt, ap); fprintf(stderr, "\n");
    va_end(ap); exit(1);
}

static inline uint64_t now_ns(clockid_t clock) {
    struct timespec ts; clock_gettime(clock, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}
static inline uint64_t mono(void) { return now_ns(CLOCK_MONOTONIC); }

// ---- histogram: 100 ns buckets up to 100 ms ----
#define HBUCKET 100
#define HCOUNT 1000000
typedef struct { uint32_t *b; uint64_t n, over, max, sum; } hist_t;
static void hist_init(hist_t *h) { h->b = calloc(HCOUNT, sizeof(uint32_t)); h->n = h->over = h->max = h->sum = 0; }
static inline void hist_add(hist_t *h, int64_t ns) {
    if (ns < 0) ns = 0;
    uint64_t i = (uint64_t)ns / HBUCKET;
    if (i >= HCOUNT) { h->over++; i = HCOUNT - 1; }
    h->b[i]++; h->n++; h->sum += ns;
    if ((uint64_t)ns > h->max) h->max = ns;
}
static double hist_pct(const hist_t *h, double p) {
    if (!h->n) return 0;
    uint64_t want = (uint64_t)(p / 100.0 * (double)h->n); if (want >= h->n) want = h->n - 1;
    uint64_t acc = 0;
    for (uint64_t i = 0; i < HCOUNT; i++) { acc += h->b[i]; if (acc > want) return (i + 0.5) * HBUCKET / 1000.0; }
    return h->max / 1000.0;
}

// ---- members ----
typedef struct {
    int udp;           // GameRelay: the member's socket (connected to the relay); TURN: the allocation's socket
    int inbox;         // TURN: the member's own receive socket (direct peer); GameRelay: == udp
    int tcp;           // GameRelay control connection
    uint32_t session32;
    uint16_t id;       // GameRelay member id
    uint8_t token[16];
    uint32_t seq;
    struct sockaddr_in relayed;   // TURN relayed address
    struct sockaddr_in inbox_addr;
} member_t;

static member_t *M;
static int N;   // members in all
static struct sockaddr_in relay_addr;

// ---- small blocking helpers for set-up ----
static int tcp_connect(void) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) die("socket: %s", strerror(errno));
    if (connect(fd, (struct sockaddr *)&relay_addr, sizeof relay_addr) < 0) die("connect tcp: %s", strerror(errno));
    int one = 1; setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

static void send_all(int fd, const char *s, size_t n) {
    while (n) { ssize_t w = write(fd, s, n); if (w < 0) { if (errno == EINTR) continue; die("write: %s", strerror(errno)); } s += w; n -= w; }
}

// Reads lines from fd until one carries "id":<id>; returns it (static buffer). Events are skipped.
static char linebuf[1 << 16];
static char *tcp_reply(int fd, int id) {
    static char pending[1 << 17]; static int pending_fd = -1; static size_t plen = 0;
    if (pending_fd != fd) { pending_fd = fd; plen = 0; }
    char want[32]; snprintf(want, sizeof want, "\"id\":%d,", id);
    for (;;) {
        char *nl = memchr(pending, '\n', plen);
        if (!nl) nl = memchr(pending, '\0', plen);
        if (nl) {
            size_t len = nl - pending;
            if (len >= sizeof linebuf) die("reply too long");
            memcpy(linebuf, pending, len); linebuf[len] = 0;
            memmove(pending, nl + 1, plen - len - 1); plen -= len + 1;
            if (strstr(linebuf, want)) return linebuf;
            continue;
        }
        struct pollfd p = { fd, POLLIN, 0 };
        if (poll(&p, 1, 5000) <= 0) die("no reply to request %d", id);
        ssize_t r = read(fd, pending + plen, sizeof pending - plen);
        if (r <= 0) die("control connection closed (%s)", r < 0 ? strerror(errno) : "eof");
        plen += r;
    }
}

static int next_id = 1;
static char *request(int fd, const char *fmt, ...) {
    char msg[512]; int id = next_id++;
    int n = snprintf(msg, sizeof msg, "{\"id\":%d,", id);
    va_list ap; va_start(ap, fmt); n += vsnprintf(msg + n, sizeof msg - n, fmt, ap); va_end(ap);
    msg[n++] = '\n';
    send_all(fd, msg, n);
    char *reply = tcp_reply(fd, id);
    if (!strstr(reply, "\"ok\":true")) die("request %.*s failed: %s", n - 1, msg, reply);
    return reply;
}

static const char *json_field(const char *s, const char *key) {
    char k[64]; snprintf(k, sizeof k, "\"%s\":", key);
    const char *p = strstr(s, k);
    if (!p) die("no %s in %s", key, s);
    p += strlen(k); while (*p == ' ') p++;
    return p;
}
static void json_string(const char *s, const char *key, char *out, size_t cap) {
    const char *p = json_field(s, key);
    if (*p != '"') die("%s is not a string", key);
    p++; size_t i = 0;
    while (*p && *p != '"' && i + 1 < cap) out[i++] = *p++;
    out[i] = 0;
}
static long json_int(const char *s, const char *key) { return strtol(json_field(s, key), NULL, 10); }

static int hexval(char c) { return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1; }

static int udp_socket(int connect_relay) {
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) die("socket: %s", strerror(errno));
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    if (bind(fd, (struct sockaddr *)&a, sizeof a) < 0) die("bind: %s", strerror(errno));
    if (connect_relay && connect(fd, (struct sockaddr *)&relay_addr, sizeof relay_addr) < 0) die("connect udp: %s", strerror(errno));
    int on = 1; setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPNS, &on, sizeof on);
    return fd;
}

static void put16(uint8_t *p, uint16_t v) { p[0] = v >> 8; p[1] = v; }
static void put32(uint8_t *p, uint32_t v) { p[0] = v >> 24; p[1] = v >> 16; p[2] = v >> 8; p[3] = v; }
static uint16_t get16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static uint32_t get32(const uint8_t *p) { return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]; }

static void gr_header(uint8_t *h, uint8_t type, const member_t *m, uint16_t target, uint32_t seq) {
    h[0] = 0x47; h[1] = 1; h[2] = type; h[3] = 0;
    put32(h + 4, m->session32); put16(h + 8, m->id); put16(h + 10, target); put32(h + 12, seq);
}

static void gr_bind(member_t *m) {
    uint8_t cookie[8]; int have_cookie = 0;
    for (int attempt = 0; attempt < 10; attempt++) {
        uint8_t d[40]; gr_header(d, 1, m, 0, 0);
        memcpy(d + 16, m->token, 16);
        size_t len = 32;
        if (have_cookie) { memcpy(d + 32, cookie, 8); len = 40; }
        if (send(m->udp, d, len, 0) < 0) die("send BIND: %s", strerror(errno));
        uint64_t deadline = mono() + 250000000ull;
        for (;;) {
            int64_t left = (int64_t)(deadline - mono()) / 1000000;
            if (left < 0) break;
            struct pollfd p = { m->udp, POLLIN, 0 };
            if (poll(&p, 1, (int)left) <= 0) break;
            uint8_t r[1500]; ssize_t n = recv(m->udp, r, sizeof r, 0);
            if (n < 16 || r[0] != 0x47 || r[2] != 2) continue;   // not a BIND_ACK
            if (n == 16) return;                                  // bound
            if (n == 24) { memcpy(cookie, r + 16, 8); have_cookie = 1; goto again; }
        }
    again:;
    }
    die("BIND of member %u got no empty BIND_ACK after 10 tries", m->id);
}

static void setup_gamerelay(void) {
    for (int s = 0; s < opt.sessions; s++) {
        member_t *first = &M[s * opt.members];
        first->tcp = tcp_connect();
        request(first->tcp, "\"op\":\"hello\",\"protocol\":1,\"client\":\"loadgen/1\"}");
        char *r = request(first->tcp, "\"op\":\"create\",\"capacity\":%d}", opt.members);
        char session[40]; json_string(r, "session", session, sizeof session);
        size_t sl = strlen(session);
        if (sl != 16) die("odd session id %s", session);
        uint32_t s32 = (uint32_t)strtoul(session + 8, NULL, 16);
        for (int j = 0; j < opt.members; j++) {
            member_t *m = &M[s * opt.members + j];
            if (j) { m->tcp = tcp_connect(); request(m->tcp, "\"op\":\"hello\",\"protocol\":1,\"client\":\"loadgen/1\"}"); }
            r = request(m->tcp, "\"op\":\"join\",\"session\":\"%s\",\"name\":\"lg%d\"}", session, j);
            // "member" (the top-level key) comes before "members" in the reply.
            m->id = (uint16_t)json_int(r, "member");
            char token[40]; json_string(r, "token", token, sizeof token);
            if (strlen(token) != 32) die("odd token %s", token);
            for (int k = 0; k < 16; k++) m->token[k] = (uint8_t)(hexval(token[2 * k]) << 4 | hexval(token[2 * k + 1]));
            const char *udp = strstr(r, "\"udp\":");
            int udp_port = udp ? (int)json_int(udp, "port") : opt.port;
            if (udp_port != opt.port) die("relay's UDP port %d differs from %d", udp_port, opt.port);
            m->session32 = s32;
            m->udp = m->inbox = udp_socket(1);
        }
        for (int j = 0; j < opt.members; j++) gr_bind(&M[s * opt.members + j]);
    }
}

// ---- TURN (RFC 5766), no authentication ----
static uint8_t txn_counter;
static size_t stun_start(uint8_t *b, uint16_t type, uint8_t txid[12]) {
    put16(b, type); put16(b + 2, 0); put32(b + 4, 0x2112A442);
    for (int i = 0; i < 12; i++) txid[i] = (uint8_t)(rand() ^ txn_counter++);
    memcpy(b + 8, txid, 12);
    return 20;
}
static size_t stun_attr(uint8_t *b, size_t off, uint16_t type, const void *v, uint16_t len) {
    put16(b + off, type); put16(b + off + 2, len); memcpy(b + off + 4, v, len);
    size_t padded = (len + 3u) & ~3u; memset(b + off + 4 + len, 0, padded - len);
    off += 4 + padded; put16(b + 2, (uint16_t)(off - 20));
    return off;
}
static void xor_address(uint8_t v[8], const struct sockaddr_in *a) {
    v[0] = 0; v[1] = 1;
    put16(v + 2, ntohs(a->sin_port) ^ 0x2112);
    put32(v + 4, ntohl(a->sin_addr.s_addr) ^ 0x2112A442);
}

// Sends a request and waits for the matching response; returns the response length (into r).
static ssize_t stun_transact(int fd, uint8_t *req, size_t len, uint8_t txid[12], uint8_t *r, size_t cap) {
    for (int attempt = 0; attempt < 7; attempt++) {
        if (send(fd, req, len, 0) < 0) die("send STUN: %s", strerror(errno));
        struct pollfd p = { fd, POLLIN, 0 };
        uint64_t deadline = mono() + 500000000ull;
        while ((int64_t)(deadline - mono()) > 0) {
            if (poll(&p, 1, 100) <= 0) continue;
            ssize_t n = recv(fd, r, cap, 0);
            if (n >= 20 && memcmp(r + 8, txid, 12) == 0) return n;
        }
    }
    die("no answer from the TURN server");
    return -1;
}

static void turn_allocate(member_t *m) {
    uint8_t b[256], r[1500], txid[12];
    size_t off = stun_start(b, 0x0003, txid);
    uint8_t transport[4] = { 17, 0, 0, 0 };
    off = stun_attr(b, off, 0x0019, transport, 4);
    ssize_t n = stun_transact(m->udp, b, off, txid, r, sizeof r);
    if (get16(r) != 0x0103) die("Allocate failed (type 0x%04x)", get16(r));
    for (size_t a = 20; a + 4 <= (size_t)n;) {
        uint16_t t = get16(r + a), l = get16(r + a + 2);
        if (t == 0x0016 && l >= 8) {   // XOR-RELAYED-ADDRESS
            m->relayed.sin_family = AF_INET;
            m->relayed.sin_port = htons(get16(r + a + 6) ^ 0x2112);
            m->relayed.sin_addr.s_addr = htonl(get32(r + a + 8) ^ 0x2112A442);
            return;
        }
        a += 4 + ((l + 3u) & ~3u);
    }
    die("Allocate answer without XOR-RELAYED-ADDRESS");
}

static void turn_channel_bind(member_t *m, uint16_t channel, const struct sockaddr_in *peer) {
    uint8_t b[256], r[1500], txid[12];
    size_t off = stun_start(b, 0x0009, txid);
    uint8_t ch[4] = { channel >> 8, channel & 0xff, 0, 0 };
    off = stun_attr(b, off, 0x000C, ch, 4);
    uint8_t xa[8]; xor_address(xa, peer);
    off = stun_attr(b, off, 0x0012, xa, 8);
    stun_transact(m->udp, b, off, txid, r, sizeof r);
    if (get16(r) != 0x0109) die("ChannelBind failed (type 0x%04x)", get16(r));
}

static void setup_turn(void) {
    for (int i = 0; i < N; i++) {
        member_t *m = &M[i];
        m->udp = udp_socket(1);
        m->inbox = udp_socket(0);
        socklen_t l = sizeof m->inbox_addr;
        getsockname(m->inbox, (struct sockaddr *)&m->inbox_addr, &l);
        turn_allocate(m);
    }
    for (int s = 0; s < opt.sessions; s++)
        for (int j = 0; j < opt.members; j++)
            for (int k = 0; k < opt.members; k++)
                if (k != j) turn_channel_bind(&M[s * opt.members + j], (uint16_t)(0x4000 + k), &M[s * opt.members + k].inbox_addr);
}

// ---- the run ----
static hist_t h_user, h_kernel, h_lag;
static uint64_t sent_msgs, expected, delivered, send_fail, rx_calls, rx_dgrams, epoll_waits, late_rx;
static uint64_t measure_start, send_end;
// Kernel-stamped latency by the copy's place in the sender's fan-out order (0 = sent first).
static double rank_sum[64]; static uint64_t rank_n[64];
static uint64_t rt_minus_mono;   // CLOCK_REALTIME - CLOCK_MONOTONIC at start (for kernel stamps)

static uint64_t relay_cpu_ticks(void) {
    if (!opt.relay_pid) return 0;
    char path[64], buf[1024]; snprintf(path, sizeof path, "/proc/%d/stat", opt.relay_pid);
    FILE *f = fopen(path, "r"); if (!f) return 0;
    size_t n = fread(buf, 1, sizeof buf - 1, f); fclose(f); buf[n] = 0;
    char *p = strrchr(buf, ')'); if (!p) return 0;
    unsigned long ut = 0, st = 0;
    // fields after ')': state(3) ... utime is field 14, stime 15
    sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st);
    return ut + st;
}

// Busy ticks (all but idle and iowait) of cpu0 and cpu1 together, from /proc/stat.
static uint64_t cpus_busy_ticks(void) {
    FILE *f = fopen("/proc/stat", "r"); if (!f) return 0;
    char line[512]; uint64_t busy = 0;
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "cpu0 ", 5) && strncmp(line, "cpu1 ", 5)) continue;
        unsigned long long v[10] = { 0 };
        sscanf(line + 5, "%llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6], &v[7]);
        busy += v[0] + v[1] + v[2] + v[5] + v[6] + v[7];
    }
    fclose(f);
    return busy;
}

#define BATCH 32
static uint8_t rxbuf[BATCH][2048];
static char rxctl[BATCH][64];
static struct mmsghdr rxmsg[BATCH];
static struct iovec rxiov[BATCH];

static void receive_on(int fd, int receiver) {
    for (;;) {
        for (int i = 0; i < BATCH; i++) {
            rxiov[i].iov_base = rxbuf[i]; rxiov[i].iov_len = sizeof rxbuf[i];
            memset(&rxmsg[i].msg_hdr, 0, sizeof rxmsg[i].msg_hdr);
            rxmsg[i].msg_hdr.msg_iov = &rxiov[i]; rxmsg[i].msg_hdr.msg_iovlen = 1;
            rxmsg[i].msg_hdr.msg_control = rxctl[i]; rxmsg[i].msg_hdr.msg_controllen = sizeof rxctl[i];
        }
        int n = recvmmsg(fd, rxmsg, BATCH, MSG_DONTWAIT, NULL);
        uint64_t now = mono();
        if (n <= 0) return;
        rx_calls++; rx_dgrams += n;
        for (int i = 0; i < n; i++) {
            uint8_t *p = rxbuf[i]; size_t len = rxmsg[i].msg_len;
            if (opt.protocol == PROTO_GAMERELAY) {
                if (len < 16 + 24 || p[0] != 0x47 || p[2] != 3) continue;
                p += 16; len -= 16;
            } else if (len < 24) continue;
            uint64_t sent_mono, sent_rt; int32_t sender;
            memcpy(&sent_mono, p, 8); memcpy(&sent_rt, p + 8, 8); memcpy(&sender, p + 16, 4);
            if (sent_mono < measure_start || sent_mono >= send_end) continue;
            delivered++;
            if (now > send_end + 100000000ull) late_rx++;
            hist_add(&h_user, (int64_t)(now - sent_mono));
            for (struct cmsghdr *c = CMSG_FIRSTHDR(&rxmsg[i].msg_hdr); c; c = CMSG_NXTHDR(&rxmsg[i].msg_hdr, c)) {
                if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_TIMESTAMPNS) {
                    struct timespec ts; memcpy(&ts, CMSG_DATA(c), sizeof ts);
                    uint64_t k = (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
                    hist_add(&h_kernel, (int64_t)(k - sent_rt));
                    int r = receiver % opt.members, sm = sender % opt.members;
                    int rank = r - (r > sm ? 1 : 0);
                    if (rank >= 0 && rank < 64) { rank_sum[rank] += (double)(int64_t)(k - sent_rt); rank_n[rank]++; }
                }
            }
        }
        if (n < BATCH) return;
    }
}

static uint8_t txbuf[2048];

// With --tick-us, when a send planned for `due` actually goes: the next tick at or after it.
static inline uint64_t tick_of(uint64_t due, uint64_t start) {
    if (!opt.tick_us) return due;
    uint64_t t = (uint64_t)opt.tick_us * 1000ull;
    return start + ((due - start + t - 1) / t) * t;
}

static void send_message(member_t *m, int index, uint64_t planned) {
    int fan = opt.members - 1;
    uint32_t seq = ++m->seq;
    if (opt.protocol == PROTO_GAMERELAY) {
        gr_header(txbuf, 3, m, 0xFFFF, seq);
        uint8_t *p = txbuf + 16;
        uint64_t t = mono(), rt = t + rt_minus_mono;
        memcpy(p, &t, 8); memcpy(p + 8, &rt, 8); memcpy(p + 16, &index, 4); memcpy(p + 20, &seq, 4);
        ssize_t w = send(m->udp, txbuf, 16 + opt.payload, 0);
        if (t >= measure_start && t < send_end) {
            hist_add(&h_lag, (int64_t)(t - planned));
            if (w > 0) { sent_msgs++; expected += fan; } else send_fail++;
        }
    } else {
        uint8_t *p = txbuf + 4;
        uint64_t t = mono();
        int counted = t >= measure_start && t < send_end;
        if (counted) hist_add(&h_lag, (int64_t)(t - planned));
        memset(p, 0xA5, opt.payload);
        int base = index - index % opt.members;
        for (int k = 0; k < opt.members; k++) {
            if (base + k == index) continue;
            put16(txbuf, (uint16_t)(0x4000 + k)); put16(txbuf + 2, (uint16_t)opt.payload);
            if (!opt.per_message_stamp) t = mono();
            uint64_t rt = t + rt_minus_mono;
            memcpy(p, &t, 8); memcpy(p + 8, &rt, 8); memcpy(p + 16, &index, 4); memcpy(p + 20, &seq, 4);
            ssize_t w = send(m->udp, txbuf, 4 + opt.payload, 0);
            if (counted) { if (w > 0) expected++; else send_fail++; }
        }
        if (counted) sent_msgs++;
    }
}

static void usage(void) {
    fprintf(stderr,
        "usage: loadgen --protocol gamerelay|turn [--host 127.0.0.1] --port N [--sessions 50] [--members 8]\n"
        "               [--rate 30] [--payload 100] [--duration 10] [--warmup 2] [--stamp datagram|message]\n"
        "               [--relay-pid PID] [--busy-poll] [--tick-us N] [--verbose]\n");
    exit(2);
}

int main(int argc, char **argv) {
    static struct option lo[] = {
        { "protocol", 1, 0, 'P' }, { "host", 1, 0, 'h' }, { "port", 1, 0, 'p' }, { "sessions", 1, 0, 's' },
        { "members", 1, 0, 'm' }, { "rate", 1, 0, 'r' }, { "payload", 1, 0, 'b' }, { "duration", 1, 0, 'd' },
        { "warmup", 1, 0, 'w' }, { "stamp", 1, 0, 'S' }, { "relay-pid", 1, 0, 'R' }, { "verbose", 0, 0, 'v' }, { "busy-poll", 0, 0, 'B' }, { "tick-us", 1, 0, 'T' },
        { "help", 0, 0, '?' }, { 0, 0, 0, 0 } };
    int c;
    while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
        switch (c) {
        case 'P':
            opt.protocol = !strcmp(optarg, "turn") ? PROTO_TURN : !strcmp(optarg, "gamerelay") ? PROTO_GAMERELAY : -1;
            if (opt.protocol < 0) usage();
            break;
        case 'h': opt.host = optarg; break;
        case 'p': opt.port = atoi(optarg); break;
        case 's': opt.sessions = atoi(optarg); break;
        case 'm': opt.members = atoi(optarg); break;
        case 'r': opt.rate = atof(optarg); break;
        case 'b': opt.payload = atoi(optarg); break;
        case 'd': opt.duration = atof(optarg); break;
        case 'w': opt.warmup = atof(optarg); break;
        case 'S': opt.per_message_stamp = !strcmp(optarg, "message"); break;
        case 'R': opt.relay_pid = atoi(optarg); break;
        case 'v': opt.verbose = 1; break;
        case 'B': opt.busy_poll = 1; break;
        case 'T': opt.tick_us = atoi(optarg); break;
        default: usage();
        }
    }
    if (strcmp(opt.host, "127.0.0.1") != 0) die("only 127.0.0.1 is supported");
    if (opt.port <= 0 || opt.sessions < 1 || opt.members < 2 || opt.rate <= 0 || opt.payload < 24 || opt.payload > 1100) usage();
    prctl(PR_SET_TIMERSLACK, 1);
    struct rlimit rl; getrlimit(RLIMIT_NOFILE, &rl); rl.rlim_cur = rl.rlim_max; setrlimit(RLIMIT_NOFILE, &rl);
    srand((unsigned)mono());
    relay_addr.sin_family = AF_INET; relay_addr.sin_port = htons(opt.port); relay_addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    N = opt.sessions * opt.members;
    M = calloc(N, sizeof *M);
    for (int i = 0; i < N; i++) M[i].tcp = -1;
    uint64_t t0 = mono();
    if (opt.protocol == PROTO_GAMERELAY) setup_gamerelay(); else setup_turn();
    fprintf(stderr, "loadgen: %d members set up in %.2f s\n", N, (mono() - t0) / 1e9);

    hist_init(&h_user); hist_init(&h_kernel); hist_init(&h_lag);
    int ep = epoll_create1(EPOLL_CLOEXEC);
    int tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    struct epoll_event ev = { .events = EPOLLIN, .data.u64 = (uint64_t)-1 };
    epoll_ctl(ep, EPOLL_CTL_ADD, tfd, &ev);
    for (int i = 0; i < N; i++) {
        ev.events = EPOLLIN; ev.data.u64 = (uint64_t)i; epoll_ctl(ep, EPOLL_CTL_ADD, M[i].inbox, &ev);
        if (M[i].tcp >= 0) { ev.data.u64 = (1ull << 32) | (uint64_t)i; epoll_ctl(ep, EPOLL_CTL_ADD, M[i].tcp, &ev); }
        if (opt.protocol == PROTO_TURN) { ev.data.u64 = (2ull << 32) | (uint64_t)i; epoll_ctl(ep, EPOLL_CTL_ADD, M[i].udp, &ev); }
    }
    rt_minus_mono = now_ns(CLOCK_REALTIME) - mono();
    uint64_t interval = (uint64_t)(1e9 / opt.rate);
    uint64_t start = mono() + 10000000ull;
    measure_start = start + (uint64_t)(opt.warmup * 1e9);
    send_end = measure_start + (uint64_t)(opt.duration * 1e9);
    uint64_t finish = send_end + 300000000ull;
    uint64_t k = 0, armed = 0, next_ping = start + 5000000000ull;
    uint64_t cpu0 = 0, relay0 = 0, busy0 = 0, busy1 = 0; int measuring = 0;
    struct rusage ru0, ru1;
    struct epoll_event evs[256];
    for (;;) {
        uint64_t now = mono();
        if (!measuring && now >= measure_start) { measuring = 1; relay0 = relay_cpu_ticks(); getrusage(RUSAGE_SELF, &ru0); busy0 = cpus_busy_ticks(); }
        // every send that is due by now
        for (;;) {
            uint64_t due = start + (k * interval) / (uint64_t)N;
            if (due >= send_end || tick_of(due, start) > now) break;
            int idx = (int)(k % (uint64_t)N);
            send_message(&M[idx], idx, due);
            k++;
            now = mono();
        }
        if (measuring == 1 && now >= send_end) {
            measuring = 2; cpu0 = relay_cpu_ticks() - relay0; getrusage(RUSAGE_SELF, &ru1); busy1 = cpus_busy_ticks();
        }
        if (now >= finish) break;
        if (now >= next_ping && opt.protocol == PROTO_GAMERELAY) {
            for (int i = 0; i < N; i++) if (M[i].tcp >= 0) send_all(M[i].tcp, "{\"op\":\"ping\"}\n", 14);
            next_ping += 5000000000ull;
        }
        uint64_t due = start + (k * interval) / (uint64_t)N;
        uint64_t wake = due < send_end ? tick_of(due, start) : finish;
        if (wake != armed && !opt.busy_poll) {
            struct itimerspec its = { { 0, 0 }, { (time_t)(wake / 1000000000ull), (long)(wake % 1000000000ull) } };
            timerfd_settime(tfd, TFD_TIMER_ABSTIME, &its, NULL);
            armed = wake;
        }
        int n = epoll_wait(ep, evs, 256, opt.busy_poll ? 0 : 1000);
        epoll_waits++;
        for (int i = 0; i < n; i++) {
            uint64_t d = evs[i].data.u64;
            if (d == (uint64_t)-1) { uint64_t x; if (read(tfd, &x, sizeof x) < 0) {} armed = 0; continue; }
            int kind = (int)(d >> 32), idx = (int)(d & 0xffffffffu);
            if (kind == 0) receive_on(M[idx].inbox, idx);
            else if (kind == 1) { char junk[4096]; ssize_t r = read(M[idx].tcp, junk, sizeof junk); if (r == 0) die("relay closed a control connection"); }
            else { char junk[2048]; while (recv(M[idx].udp, junk, sizeof junk, MSG_DONTWAIT) > 0) {} }
        }
    }
    double dur = opt.duration;
    double gen_cpu = (ru1.ru_utime.tv_sec - ru0.ru_utime.tv_sec + ru1.ru_stime.tv_sec - ru0.ru_stime.tv_sec)
                   + (ru1.ru_utime.tv_usec - ru0.ru_utime.tv_usec + ru1.ru_stime.tv_usec - ru0.ru_stime.tv_usec) / 1e6;
    double loss = expected ? 100.0 * (double)(expected - (delivered < expected ? delivered : expected)) / (double)expected : 0;
    printf("loadgen %s %dx%d @ %.0f Hz, %d B, %.0f s (+%.0f s warm-up)%s\n",
           opt.protocol == PROTO_TURN ? "turn" : "gamerelay", opt.sessions, opt.members, opt.rate, opt.payload, opt.duration, opt.warmup,
           opt.protocol == PROTO_TURN && opt.per_message_stamp ? ", one send stamp per message" : "");
    printf("  sent %llu msgs, expected %llu, delivered %llu, loss %.3f%%, send failures %llu\n",
           (unsigned long long)sent_msgs, (unsigned long long)expected, (unsigned long long)delivered, loss, (unsigned long long)send_fail);
    printf("  latency (user, after recvmmsg) µs: p50 %.1f  p90 %.1f  p99 %.1f  p99.9 %.1f  max %.1f  mean %.1f\n",
           hist_pct(&h_user, 50), hist_pct(&h_user, 90), hist_pct(&h_user, 99), hist_pct(&h_user, 99.9), h_user.max / 1000.0,
           h_user.n ? h_user.sum / 1000.0 / h_user.n : 0);
    printf("  latency (kernel SO_TIMESTAMPNS) µs: p50 %.1f  p90 %.1f  p99 %.1f  p99.9 %.1f  max %.1f\n",
           hist_pct(&h_kernel, 50), hist_pct(&h_kernel, 90), hist_pct(&h_kernel, 99), hist_pct(&h_kernel, 99.9), h_kernel.max / 1000.0);
    printf("  kernel-stamped mean µs by place in the fan-out order:");
    for (int r = 0; r < opt.members - 1 && r < 64; r++) printf(" %.1f", rank_n[r] ? rank_sum[r] / rank_n[r] / 1000.0 : 0);
    printf("\n");
    printf("  send lag µs: p50 %.1f  p99 %.1f  max %.1f\n", hist_pct(&h_lag, 50), hist_pct(&h_lag, 99), h_lag.max / 1000.0);
    printf("  generator: CPU %.1f %% of a core, %.2f datagrams per recvmmsg, %.0f epoll_waits/s\n",
           100.0 * gen_cpu / dur, rx_calls ? (double)rx_dgrams / rx_calls : 0, epoll_waits / (dur + opt.warmup + 0.3));
    {
        double tck = (double)sysconf(_SC_CLK_TCK);
        double other = 100.0 * ((double)(busy1 - busy0) / tck - gen_cpu - (double)cpu0 / tck) / dur;
        printf("  other processes on cores 0-1 during the window: %.1f %% of a core%s\n", other, other > 15 ? "  (NOISY)" : "");
        printf("OTHER=%.1f\n", other);
    }
    if (opt.relay_pid) printf("  relay CPU: %.1f %% of a core, %.3f µs per delivery\n",
           100.0 * cpu0 / sysconf(_SC_CLK_TCK) / dur, delivered ? 1e6 * cpu0 / sysconf(_SC_CLK_TCK) / delivered : 0);
    printf("RESULT proto=%s p50=%.1f p90=%.1f p99=%.1f max=%.1f kp50=%.1f kp99=%.1f loss=%.3f count=%llu\n",
           opt.protocol == PROTO_TURN ? "turn" : "gamerelay", hist_pct(&h_user, 50), hist_pct(&h_user, 90), hist_pct(&h_user, 99),
           h_user.max / 1000.0, hist_pct(&h_kernel, 50), hist_pct(&h_kernel, 99), loss, (unsigned long long)delivered);
    return 0;
}

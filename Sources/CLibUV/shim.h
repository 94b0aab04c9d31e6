// CLibUV: the libuv headers (Debian's libuv1-dev, libuv 1.44) plus the few
// socket headers Swift needs next to them. Every helper here is a static
// inline function, prefixed `cuv_`, and exists only because Swift cannot
// express it directly.
#ifndef CLIBUV_SHIM_H
#define CLIBUV_SHIM_H

#include <uv.h>
#include <errno.h>
#include <sys/socket.h>
#include <sys/prctl.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <unistd.h>
#include <malloc.h>
#include <linux/filter.h>

// glibc keeps a fragmented heap mapped after a burst frees it; malloc_trim returns the free
// pages (madvise) in every arena. Not part of Swift's Glibc module.
static inline int cuv_malloc_trim(void) {
    return malloc_trim(0);
}

// prctl is variadic, which Swift cannot call; names the calling thread (15 bytes kept).
static inline int cuv_set_thread_name(const char *name) {
    return prctl(PR_SET_NAME, (unsigned long)name, 0, 0, 0);
}

// sendmmsg sends a whole batch of datagrams in one system call. glibc declares it, and
// struct mmsghdr, only under _GNU_SOURCE, which can't be defined here without changing
// struct layouts other modules see; so the struct is restated (same layout as the kernel's)
// and the function bound to glibc's symbol by name.
struct cuv_mmsghdr {
    struct msghdr msg_hdr;
    unsigned int msg_len;
};

extern int cuv_sendmmsg_raw(int fd, struct cuv_mmsghdr *messages, unsigned int count, int flags) __asm__("sendmmsg");

static inline int cuv_sendmmsg(int fd, struct cuv_mmsghdr *messages, unsigned int count) {
    return cuv_sendmmsg_raw(fd, messages, count, MSG_DONTWAIT);
}

// UDP generic segmentation offload (Linux 4.18+): one sendmsg on a connected socket carries
// `length` bytes that the kernel cuts into datagrams of `segment` bytes (the last may be
// shorter), so the IP stack is walked once for all of them. The cmsg macros are the reason
// this is C. Returns 0, or -errno.
static inline int cuv_send_segments(int fd, const void *bytes, size_t length, unsigned short segment) {
    struct iovec vector = { (void *)bytes, length };
    union { char buffer[CMSG_SPACE(sizeof(unsigned short))]; struct cmsghdr align; } control;
    struct msghdr message = { 0 };
    message.msg_iov = &vector;
    message.msg_iovlen = 1;
    message.msg_control = control.buffer;
    message.msg_controllen = sizeof(control.buffer);
    struct cmsghdr *header = CMSG_FIRSTHDR(&message);
    header->cmsg_level = 17;   // SOL_UDP
    header->cmsg_type = 103;   // UDP_SEGMENT
    header->cmsg_len = CMSG_LEN(sizeof(unsigned short));
    __builtin_memcpy(CMSG_DATA(header), &segment, sizeof(segment));
    return sendmsg(fd, &message, MSG_DONTWAIT) < 0 ? -errno : 0;
}

// The same offload for one message of a sendmmsg batch: writes a UDP_SEGMENT control message
// of `segment` bytes into `control` (CUV_SEGMENT_CONTROL_SIZE bytes, 8-byte aligned) and hangs
// it on `message`, whose iovecs the kernel then cuts into datagrams of `segment` bytes.
#define CUV_SEGMENT_CONTROL_SIZE CMSG_SPACE(sizeof(unsigned short))
static inline void cuv_set_segment_size(struct msghdr *message, void *control, unsigned short segment) {
    message->msg_control = control;
    message->msg_controllen = CUV_SEGMENT_CONTROL_SIZE;
    struct cmsghdr *header = CMSG_FIRSTHDR(message);
    header->cmsg_level = 17;   // SOL_UDP
    header->cmsg_type = 103;   // UDP_SEGMENT
    header->cmsg_len = CMSG_LEN(sizeof(unsigned short));
    __builtin_memcpy(CMSG_DATA(header), &segment, sizeof(segment));
}

static inline unsigned long cuv_segment_control_size(void) {
    return CUV_SEGMENT_CONTROL_SIZE;
}

// Whether this kernel knows UDP_SEGMENT (Linux 4.18+): getsockopt on a throwaway socket.
static inline int cuv_supports_udp_segment(void) {
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    if (fd < 0) return 0;
    int value = 0;
    socklen_t length = sizeof(value);
    int ok = getsockopt(fd, 17, 103, &value, &length) == 0;
    close(fd);
    return ok;
}

// SO_REUSEPORT steering (Linux 4.5+): a classic BPF program, attached to one socket of a
// reuseport group, that picks the group's socket for each datagram: the 32-bit big-endian word
// at `offset` of the UDP payload, modulo `group`, is the index of the socket in the order the
// group's sockets were bound. The kernel runs it with the UDP header pulled off, so offset 0 is
// the payload's first byte; a payload too short for the word ends the program with 0. The
// BPF_STMT macros are why this is C. Returns 0, or -errno.
static inline int cuv_attach_reuseport_steering(int fd, unsigned int offset, unsigned int group) {
    struct sock_filter code[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offset),
        BPF_STMT(BPF_ALU | BPF_MOD | BPF_K, group),
        BPF_STMT(BPF_RET | BPF_A, 0),
    };
    struct sock_fprog program = { sizeof(code) / sizeof(code[0]), code };
#ifndef SO_ATTACH_REUSEPORT_CBPF
#define SO_ATTACH_REUSEPORT_CBPF 51
#endif
    return setsockopt(fd, SOL_SOCKET, SO_ATTACH_REUSEPORT_CBPF, &program, sizeof(program)) < 0 ? -errno : 0;
}

// errno is a macro over a thread-local; this reads it right after the call that set it.
static inline int cuv_errno(void) {
    return errno;
}

#endif

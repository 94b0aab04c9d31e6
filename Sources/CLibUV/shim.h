// CLibUV: the libuv headers (Debian's libuv1-dev, libuv 1.44) plus the few
// socket headers Swift needs next to them. Every helper here is a static
// inline function, prefixed `cuv_`, and exists only because Swift cannot
// express it directly.
#ifndef CLIBUV_SHIM_H
#define CLIBUV_SHIM_H

#include <uv.h>
#include <sys/socket.h>
#include <sys/prctl.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <unistd.h>

// prctl is variadic, which Swift cannot call; names the calling thread (15 bytes kept).
static inline int cuv_set_thread_name(const char *name) {
    return prctl(PR_SET_NAME, (unsigned long)name, 0, 0, 0);
}

#endif

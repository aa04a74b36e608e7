/* discovery/helper-proto.h - the helper's messages (discovery/helper-t.h):
 * frames on the socketpair, requests built by lxlb and checked by the
 * helper, answers built by the helper and checked by lxlb. Neither side
 * trusts the other's bytes: every field is checked for type and size. */
#ifndef LXLB_DISCOVERY_HELPER_PROTO_H
#define LXLB_DISCOVERY_HELPER_PROTO_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "discovery/helper-t.h"
#include "discovery/lxc-t.h"

/* Send msg as one frame; pass_fd >= 0 travels with it (SCM_RIGHTS). -1 with
 * err on a write error, or with errno EMSGSIZE when msg is longer than max. */
int dhp_send(int fd, const json_t *msg, size_t max, int pass_fd, char *err, size_t errlen);
/* Read one frame of at most max bytes into *buf (malloc'ed, NUL-terminated,
 * the caller frees it) and *len. timeout_ms < 0: no limit. A descriptor
 * passed with the frame goes to *passed (-1: none); with passed NULL it is
 * closed. 0: a frame; 1: end of file before its first byte; -1 with err
 * (errno ETIMEDOUT when the time ran out). */
int dhp_recv(int fd, size_t max, int timeout_ms, char **buf, size_t *len, int *passed,
             char *err, size_t errlen);

/* lxlb: the requests. NULL when out of memory. */
json_t *dhp_req_list(const struct dlxc_conf *cf);
json_t *dhp_req_probe(const struct dlxc_conf *cf, const char *name);
json_t *dhp_req_monitor(const char *lxcpath);
json_t *dhp_req_stats(const char *lxcpath, char *const *names, size_t n);
/* scale-allow and clones (name NULL), start, stop, destroy (a clone's name). */
json_t *dhp_req_scale(enum dhp_op op, const struct dlxc_scale *sc, const char *name);
/* group and address may be NULL (keep the template's). */
json_t *dhp_req_clone(const struct dlxc_scale *sc, const char *name, const char *group,
                      const char *address, bool snapshot);
/* Is name prefix followed by 1 to DHP_CLONE_DIGITS digits? Its number in *num. */
bool dhp_clone_name(const char *prefix, const char *name, unsigned *num);

/* Helper: one request frame -> rq. -1 with a reason in err for anything
 * but exactly one of the requests above with sane values. */
int dhp_decode_request(const char *buf, size_t len, struct dhp_req *rq, char *err,
                       size_t errlen);

/* Helper: the answers. NULL when out of memory (the caller says so). */
json_t *dhp_answer_error(const char *why);
json_t *dhp_info_json(const char *name, const struct dlxc_info *info);
json_t *dhp_res_json(const char *name, const struct dlxc_res *r);

/* lxlb: an answer frame -> its object (a new reference) when "ok" is true;
 * -1 with the helper's error, or what is wrong with the frame, in err. */
int dhp_decode_answer(const char *buf, size_t len, json_t **ans, char *err, size_t errlen);
/* lxlb: an INFO object -> info (name strdup'ed when with_name; info->name
 * is left alone otherwise). -1 with err when a field is missing or wrong. */
int dhp_info_decode(const json_t *j, struct dlxc_info *info, bool with_name, char *err,
                    size_t errlen);
/* lxlb: one stats entry -> its name (into name, DLXC_NAME_LEN) and figures. */
int dhp_res_decode(const json_t *j, char *name, struct dlxc_res *r, char *err, size_t errlen);
/* lxlb: one clones entry. */
int dhp_clone_decode(const json_t *j, const char *prefix, struct dlxc_clone *c, char *err,
                     size_t errlen);

#endif

/* admin/admin.c - the admin endpoint (being written: see issue 8). */
#include "admin/admin.h"

int admin_start(struct proxy *px, char *err, size_t errlen) { (void)px; (void)err; (void)errlen; return 0; }
void admin_stop(struct proxy *px) { (void)px; }

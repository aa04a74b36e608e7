/* lb/log-t.h - event line levels (the functions are in lb/log.h). */
#ifndef LXLB_LOG_T_H
#define LXLB_LOG_T_H

enum log_level { LOG_LVL_DEBUG, LOG_LVL_INFO, LOG_LVL_WARN, LOG_LVL_ERR };

#endif

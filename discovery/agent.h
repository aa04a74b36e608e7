/* discovery/agent.h - `lxlb agent`: watches this host's containers like
 * discovery.lxc and keeps one etcd key per running, addressed container
 * (<prefix><host>/<name> = {"name","address","port","host"}) on one lease. */
#ifndef LXLB_DISCOVERY_AGENT_H
#define LXLB_DISCOVERY_AGENT_H

/* argv[0] is "agent". Returns the exit status: 0 after SIGTERM/SIGINT, 1 on
 * a failure to start, 2 on a bad command line (one line on stderr). */
int agent_main(int argc, char **argv);

#endif

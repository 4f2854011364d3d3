/* SPDX-License-Identifier: MIT */
/* weftctl's main: the command line (options anywhere, as git and systemctl take them),
 * then the command. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "weftctl/ctl.h"

#ifndef WEFT_VERSION
#define WEFT_VERSION "unknown"
#endif

/* Long options; .val is the enum ctl_opt bit's index + 0x100 for those with no letter. */
static const struct option long_opts[] = {
	{ "socket", required_argument, NULL, 's' },   { "json", no_argument, NULL, 'j' },
	{ "timeout", required_argument, NULL, 0x102 }, { "help", no_argument, NULL, 'h' },
	{ "wait", no_argument, NULL, 'w' },           { "file", required_argument, NULL, 'f' },
	{ "delay", required_argument, NULL, 0x106 },  { "at", required_argument, NULL, 0x107 },
	{ "priority", required_argument, NULL, 0x108 }, { "key", required_argument, NULL, 0x109 },
	{ "pipeline", required_argument, NULL, 'p' }, { "state", required_argument, NULL, 0x10b },
	{ "limit", required_argument, NULL, 'n' },    { "outputs", no_argument, NULL, 0x10d },
	{ "all", no_argument, NULL, 0x10e },          { "from-start", no_argument, NULL, 0x10f },
	{ "payload", no_argument, NULL, 0x110 },      { "version", no_argument, NULL, 'V' },
	{ "deadline", required_argument, NULL, 0x112 },
	{ "seconds", required_argument, NULL, 0x113 }, { "debug", required_argument, NULL, 0x114 },
	{ "output", required_argument, NULL, 'o' },
	{ 0 },
};

/* The option's bit, its name as typed, and where its value goes. */
static unsigned opt_bit(int c, struct ctl_args *a, const char ***dst)
{
	*dst = NULL;
	switch (c) {
	case 's': *dst = &a->socket; return O_SOCKET;
	case 'j': return O_JSON;
	case 'h': return O_HELP;
	case 'V': return O_VERSION;
	case 'w': return O_WAIT;
	case 'f': *dst = &a->file; return O_FILE;
	case 'p': *dst = &a->pipeline; return O_PIPELINE;
	case 'n': *dst = &a->limit; return O_LIMIT;
	case 0x102: *dst = &a->timeout; return O_TIMEOUT;
	case 0x106: *dst = &a->delay; return O_DELAY;
	case 0x107: *dst = &a->at; return O_AT;
	case 0x108: *dst = &a->priority; return O_PRIORITY;
	case 0x109: *dst = &a->key; return O_KEY;
	case 0x10b: *dst = &a->state; return O_STATE;
	case 0x112: *dst = &a->deadline; return O_DEADLINE;
	case 0x113: *dst = &a->seconds; return O_SECONDS;
	case 0x114: *dst = &a->debug; return O_DEBUG;
	case 'o': *dst = &a->output; return O_OUTPUT;
	default: return c >= 0x100 ? 1u << (c - 0x100) : 0;
	}
}

static const char *opt_name(unsigned bit)
{
	for (const struct option *o = long_opts; o->name; o++) {
		const char **dst;
		struct ctl_args tmp;
		if (opt_bit(o->val, &tmp, &dst) == bit)
			return o->name;
	}
	return "?";
}

/* Parse the whole line: "-" first in optstring hands us each non-option in place (c == 1),
 * so options may come before or after the command and its arguments, whatever
 * POSIXLY_CORRECT says; after "--" everything is a positional. Returns -1 after a usage
 * error (printed); the command is a->pos[0] (removed from pos) in *cmd_name. */
static int parse(int argc, char **argv, struct ctl_args *a, const char **cmd_name)
{
	const char *bad = NULL;
	char bad_buf[64];
	int c;

	a->pos = a->pos_mem = calloc((size_t)argc + 1, sizeof(*a->pos));
	if (!a->pos)
		return -1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "-:s:jhVwf:p:n:o:", long_opts, NULL)) != -1) {
		const char **dst;
		unsigned bit;
		if (c == 1) {
			a->pos[a->npos++] = optarg;
			continue;
		}
		if (c == '?' || c == ':') {
			const char *what = c == '?' ? "unknown option" : "missing value for option";
			if (optopt && optopt < 0x100 && optopt != '?')
				snprintf(bad_buf, sizeof(bad_buf), "%s -%c", what, optopt);
			else
				snprintf(bad_buf, sizeof(bad_buf), "%s %s", what, argv[optind - 1]);
			bad = bad_buf;
			continue; /* first find the command, for the hint */
		}
		bit = opt_bit(c, a, &dst);
		a->seen |= bit;
		if (dst)
			*dst = optarg;
	}
	while (optind < argc)
		a->pos[a->npos++] = argv[optind++];
	*cmd_name = a->npos ? a->pos[0] : NULL;
	if (a->npos) {
		a->pos++;
		a->npos--;
	}
	if (bad) {
		ctl_usage_error(*cmd_name ? ctl_cmd_find(*cmd_name) : NULL, "%s", bad);
		return -1;
	}
	return 0;
}

static int run_help(const struct ctl_args *a)
{
	const struct ctl_cmd *cmd;

	if (a->npos == 0) {
		ctl_overview(stdout);
		return EX_OK;
	}
	if (!(cmd = ctl_cmd_find(a->pos[0])))
		return ctl_usage_error(ctl_cmd_find("help"), "no command \"%s\"", a->pos[0]);
	ctl_cmd_help(stdout, cmd);
	return EX_OK;
}

static int run(int argc, char **argv, struct ctl_args *ap)
{
	struct ctl c = { .fd = -1, .next_id = 1 };
	struct ctl_args a = { 0 };
	const char *name = NULL;
	const struct ctl_cmd *cmd;

	int prc = parse(argc, argv, &a, &name);
	*ap = a; /* for main to free, whatever path returns */
	if (prc < 0)
		return EX_USAGE;
	if (a.seen & O_VERSION) {
		printf("weftctl %s\n", WEFT_VERSION);
		return EX_OK;
	}
	if (!name) {
		if (a.seen & O_HELP) {
			ctl_overview(stdout);
			return EX_OK;
		}
		return ctl_usage_error(NULL, "no command");
	}
	if (!(cmd = ctl_cmd_find(name)))
		return ctl_usage_error(NULL, "unknown command \"%s\"", name);
	if (a.seen & O_HELP) {
		ctl_cmd_help(stdout, cmd);
		return EX_OK;
	}
	if (!cmd->run)
		return run_help(&a);
	unsigned extra = a.seen & ~(O_GLOBAL | cmd->opts);
	if (extra)
		return ctl_usage_error(cmd, "%s takes no option --%s", cmd->name, opt_name(extra & -extra));
	if (a.npos < cmd->min_pos) {
		/* the synopsis' first word that is not optional names what is missing */
		int n = (int)strcspn(cmd->synopsis, " .");
		return ctl_usage_error(cmd, "%s: missing %.*s", cmd->name, n, cmd->synopsis);
	}
	if (cmd->max_pos >= 0 && a.npos > cmd->max_pos)
		return ctl_usage_error(cmd, "%s: unexpected argument \"%s\"", cmd->name,
				       a.pos[cmd->max_pos]);
	c.cmd = cmd;
	c.json = a.seen & O_JSON;
	c.timeout = a.timeout;
	if (ctl_connect(&c, a.socket ? a.socket : ctl_default_socket()) < 0)
		return EX_CONN;
	int rc = cmd->run(&c, &a);
	fflush(stdout);
	if (c.fd >= 0)
		close(c.fd);
	free(c.rbuf);
	return rc;
}

int main(int argc, char **argv)
{
	struct ctl_args a = { 0 };
	int rc = run(argc, argv, &a);

	free(a.pos_mem);
	return rc;
}

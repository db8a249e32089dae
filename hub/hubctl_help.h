/* SPDX-License-Identifier: MIT */
/*
 * hubctl's help texts: the global usage (every command on one line) and
 * one entry per command and subcommand (its usage, what it does, its
 * options, an example), printed by `hubctl CMD [SUB] --help` and
 * `hubctl help [CMD [SUB]]`.
 *
 * Adding a subcommand: one row in hubctl_help.c's table and one line in
 * the global usage (tests/integration/test_hubctl.py checks both).
 */
#ifndef HUBCTL_HELP_H
#define HUBCTL_HELP_H

#include <stdbool.h>
#include <stdio.h>

/* The global usage: "usage: hubctl [--config FILE] COMMAND ...", every
 * command on one line, the global options and the exit status. */
extern const char hubctl_usage_text[];

/*
 * Print the help matching the command words words[0..n-1] (the command
 * line after the global options, options of the command included; words
 * starting with '-' are skipped): a known command and subcommand: that
 * subcommand's help; a known command alone (or with a word that is none
 * of its subcommands): the help of all its subcommands; anything else (n
 * is 0, an unknown command): the global usage. Returns 0 when a command
 * matched, 1 when the global usage was printed.
 */
int hubctl_help_print(FILE *out, int n, char **words);

/* Whether cmd is a command with help (every command hubctl runs). */
bool hubctl_help_known(const char *cmd);

/* Whether cmd sub has a help row of its own (sub NULL: cmd has a row
 * without subcommand). */
bool hubctl_help_has(const char *cmd, const char *sub);

#endif

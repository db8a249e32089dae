/* SPDX-License-Identifier: MIT */
/*
 * Names: usernames, device ids, rooms and event names, as the contract
 * defines them. Pure functions, thread-safe.
 */
#ifndef HC_NAMES_H
#define HC_NAMES_H

#include <stdbool.h>
#include <stddef.h>

#define HC_NAME_MAX 64

/* 1-64 chars of A-Za-z0-9._- : usernames, device ids, rooms. */
bool hc_name_valid(const char *s);
/* Same rule on (pointer, length) input that is not NUL-terminated. */
bool hc_name_valid_n(const char *s, size_t len);

/* An event name: one topic level, 1-64 bytes, valid UTF-8, no '/', '+',
 * '#', NUL or control characters (so "chat message" is fine). */
bool hc_event_valid_n(const char *s, size_t len);

/* A client id the hub accepts: no '/', '+', '#'. NULL is invalid. */
bool hc_clientid_valid(const char *s);

/* Membership levels. */
enum hc_level { HC_LEVEL_NONE = 0, HC_LEVEL_READ = 1, HC_LEVEL_WRITE = 2, HC_LEVEL_ADMIN = 3 };
/* "read"/"write"/"admin" -> level; HC_LEVEL_NONE if unknown. */
int hc_level_parse(const char *s);
/* level -> static name ("none" for HC_LEVEL_NONE). */
const char *hc_level_name(int level);

/* Whether len bytes at s are well-formed UTF-8 (no overlongs, no
 * surrogates, nothing above U+10FFFF). */
bool hc_utf8_valid(const char *s, size_t len);

#endif

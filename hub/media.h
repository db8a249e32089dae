/* SPDX-License-Identifier: MIT */
/* The request body media types hubd tells apart (Content-Type without
 * parameters). Its own header so body parsers need no libwebsockets. */
#ifndef HUB_MEDIA_H
#define HUB_MEDIA_H

enum hub_ctype { HUB_CT_NONE = 0, HUB_CT_JSON, HUB_CT_FORM, HUB_CT_OTHER };

#endif

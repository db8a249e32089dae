# SPDX-License-Identifier: MIT
# Build step of examples/CMakeLists.txt (cmake -P): copy every
# examples/NAME/www/ into OUT/NAME/ and write OUT/index.html, the list of
# the examples (from index.html.in). Inputs: SRC (examples/), OUT
# (build/web/examples).
#
# An example is listed when its www/ has an index.html; its entry shows the
# page's <title> and its <meta name="description" content="...">. A www/
# without index.html (examples/common: the pages' shared helpers) is copied
# but not listed.
foreach(v SRC OUT)
	if(NOT DEFINED ${v})
		message(FATAL_ERROR "copy.cmake: ${v} is not set")
	endif()
endforeach()

# Start from a clean copy so files deleted from an example do not linger.
file(REMOVE_RECURSE ${OUT})
file(MAKE_DIRECTORY ${OUT})

file(GLOB dirs LIST_DIRECTORIES true ${SRC}/*)
list(SORT dirs)
set(items "")
foreach(d ${dirs})
	get_filename_component(name ${d} NAME)
	if(NOT IS_DIRECTORY ${d}/www)
		continue()
	endif()
	if(NOT name MATCHES "^[a-z0-9][a-z0-9_-]*$")
		message(FATAL_ERROR "examples: '${name}' is no example name "
			"(lower-case letters, digits, '-' and '_'; it is a URL path and a service name)")
	endif()
	file(MAKE_DIRECTORY ${OUT}/${name})
	file(GLOB content LIST_DIRECTORIES true ${d}/www/*)
	if(content)
		file(COPY ${content} DESTINATION ${OUT}/${name})
	endif()
	if(NOT EXISTS ${d}/www/index.html)
		continue()
	endif()
	file(READ ${d}/www/index.html page)
	set(title ${name})
	if(page MATCHES "<title>([^<]*)</title>")
		string(STRIP "${CMAKE_MATCH_1}" title)
	endif()
	set(desc "")
	if(page MATCHES "<meta name=\"description\" content=\"([^\"]*)\"")
		set(desc "${CMAKE_MATCH_1}")
	endif()
	# the page's own text is HTML already (entities included): only the
	# name, which is checked above, is inserted raw
	string(APPEND items "\t<li class=\"example\"><a href=\"${name}/\">${title}</a>\n"
		"\t\t<p>${desc}</p></li>\n")
endforeach()
if(items STREQUAL "")
	set(items "\t<li class=\"muted\">No example is built.</li>\n")
endif()
set(EXAMPLES_LIST "${items}")
configure_file(${SRC}/index.html.in ${OUT}/index.html @ONLY)

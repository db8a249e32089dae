# SPDX-License-Identifier: MIT
# Included by copy.cmake (cmake -P): vendor Yjs and y-protocols for the
# browser without a bundler. Their ES modules import lib0 by bare names
# ('lib0/encoding', 'yjs'), which a browser resolves only through an import
# map, and an import map is an inline script that the pages' CSP
# (script-src 'self') forbids. So the modules are copied as they are, and
# each bare name is rewritten to the relative path of the file it names
# (lib0's "browser" entry of its exports map is ./NAME.js for every module
# used here). Only the modules reachable from the entry points are copied.
#
# Layout produced (served by hubd at /vendor/yjs/...):
#   OUT/vendor/yjs/yjs.mjs                   import * as Y from '/vendor/yjs/yjs.mjs'
#   OUT/vendor/yjs/y-protocols/awareness.js  presence (cursors, names, colours)
#   OUT/vendor/yjs/lib0/...                  what they import
# One copy of yjs.mjs is imported by the page and by awareness.js alike
# (Yjs warns when two instances meet in one page).
#
# Inputs: OUT, NODE_MODULES (from copy.cmake).
set(yjs_entries
	"yjs/dist/yjs.mjs|yjs.mjs"
	"y-protocols/awareness.js|y-protocols/awareness.js")
foreach(e ${yjs_entries})
	string(REPLACE "|" ";" pair "${e}")
	list(GET pair 0 src)
	if(NOT EXISTS ${NODE_MODULES}/${src})
		message(FATAL_ERROR "web: ${NODE_MODULES}/${src} is missing: the board example "
			"vendors yjs and y-protocols from package.json. Run scripts/deps (npm ci), "
			"then build again.")
	endif()
endforeach()

set(yjs_out ${OUT}/vendor/yjs)
file(REMOVE_RECURSE ${yjs_out})

# Work list of "source path under NODE_MODULES|destination under yjs_out".
set(todo ${yjs_entries})
set(done "")
while(todo)
	list(POP_FRONT todo item)
	string(REPLACE "|" ";" pair "${item}")
	list(GET pair 0 src)
	list(GET pair 1 dst)
	list(FIND done "${dst}" seen)
	if(NOT seen EQUAL -1)
		continue()
	endif()
	list(APPEND done ${dst})
	if(NOT EXISTS ${NODE_MODULES}/${src})
		message(FATAL_ERROR "web: ${NODE_MODULES}/${src} is missing (imported by the "
			"vendored Yjs modules)")
	endif()
	file(READ ${NODE_MODULES}/${src} text)
	get_filename_component(dst_dir "${dst}" DIRECTORY)
	get_filename_component(src_dir "${src}" DIRECTORY)
	# from the destination's directory back up to yjs_out
	set(up "./")
	if(NOT dst_dir STREQUAL "")
		string(REGEX REPLACE "[^/]+" ".." up "${dst_dir}")
		set(up "${up}/")
	endif()
	# Import statements only: "import ... from 'x'", "export ... from 'x'",
	# "} from 'x'" (a multi-line import's last line) and "import 'x'", each
	# at the start of a line; JSDoc's import('...') types in comments are
	# no imports.
	string(REGEX MATCHALL "(^|\n)(import|export|})[^\n]*from '[^']+'|(^|\n)import '[^']+'"
		stmts "${text}")
	foreach(stmt ${stmts})
		string(REGEX REPLACE ".*'([^']+)'$" "\\1" spec "${stmt}")
		if(spec MATCHES "^lib0/([a-z0-9/._-]+)$")
			set(target_dst "lib0/${CMAKE_MATCH_1}.js")
			set(target_src "lib0/${CMAKE_MATCH_1}.js")
			set(rel "${up}${target_dst}")
		elseif(spec STREQUAL "yjs")
			set(target_dst "yjs.mjs")
			set(target_src "yjs/dist/yjs.mjs")
			set(rel "${up}yjs.mjs")
		elseif(spec MATCHES "^\\.\\.?/")
			# relative: the same file layout under the destination
			get_filename_component(target_src "${src_dir}/${spec}" ABSOLUTE BASE_DIR "/")
			get_filename_component(target_dst "${dst_dir}/${spec}" ABSOLUTE BASE_DIR "/")
			string(REGEX REPLACE "^/" "" target_src "${target_src}")
			string(REGEX REPLACE "^/" "" target_dst "${target_dst}")
			set(rel "${spec}")
		else()
			message(FATAL_ERROR "web: ${src} imports '${spec}', which the Yjs vendoring "
				"(web/vendor-yjs.cmake) does not know how to resolve")
		endif()
		string(REPLACE "'${spec}'" "'${rel}'" new_stmt "${stmt}")
		string(REPLACE "${stmt}" "${new_stmt}" text "${text}")
		list(APPEND todo "${target_src}|${target_dst}")
	endforeach()
	file(WRITE ${yjs_out}/${dst} "${text}")
endwhile()
list(LENGTH done n)
message(STATUS "web: vendored Yjs for the browser (${n} modules in ${yjs_out})")

# SPDX-License-Identifier: MIT
# Build step of web/CMakeLists.txt (cmake -P): copy the dashboard sources
# and the vendored packages into OUT. Inputs: SRC (web/), OUT
# (build/web), NODE_MODULES, ROUTES (devices/routes/demo-routes.geojson).
#
# Layout produced:
#   OUT/index.html, OUT/css/, OUT/js/, OUT/lib/     from web/
#   OUT/vendor/mqtt.esm.js                         MQTT.js browser ESM build
#   OUT/vendor/leaflet/{leaflet.js,leaflet.css,images/}
#   OUT/vendor/socket.io.min.js                    for Socket.IO pages and tests
#   OUT/vendor/socket.io/                          the client bundles hub-bridge
#                                                  serves at /socket.io/*.js
#   OUT/data/demo-routes.geojson                   the map's offline base layer
#   OUT/vendor/yjs/                                Yjs + y-protocols' awareness as
#                                                  browser ES modules (vendor-yjs.cmake)
foreach(v SRC OUT NODE_MODULES ROUTES)
	if(NOT DEFINED ${v})
		message(FATAL_ERROR "copy.cmake: ${v} is not set")
	endif()
endforeach()

set(need
	${NODE_MODULES}/mqtt/dist/mqtt.esm.js
	${NODE_MODULES}/leaflet/dist/leaflet.js
	${NODE_MODULES}/leaflet/dist/leaflet.css
	${NODE_MODULES}/leaflet/dist/images
	${NODE_MODULES}/socket.io-client/dist/socket.io.min.js)
foreach(f ${need})
	if(NOT EXISTS ${f})
		message(FATAL_ERROR "web: ${f} is missing: the dashboard vendors the npm "
			"packages in package.json. Run scripts/deps (it runs npm ci), then build again.")
	endif()
endforeach()
if(NOT EXISTS ${ROUTES})
	message(FATAL_ERROR "web: ${ROUTES} is missing (the map's base layer)")
endif()

# Start from clean copies so files deleted from web/ do not linger. OUT is
# also this directory's CMake binary dir (build/web): leave CMake's own
# files there alone.
file(GLOB old_html ${OUT}/*.html)
file(REMOVE_RECURSE ${OUT}/css ${OUT}/js ${OUT}/lib ${OUT}/img ${OUT}/vendor ${OUT}/data
	${old_html})
file(MAKE_DIRECTORY ${OUT}/vendor/leaflet ${OUT}/data)
file(GLOB html ${SRC}/*.html)
file(COPY ${html} DESTINATION ${OUT})
foreach(d css js lib img)
	if(IS_DIRECTORY ${SRC}/${d})
		file(COPY ${SRC}/${d} DESTINATION ${OUT})
	endif()
endforeach()
file(COPY ${NODE_MODULES}/mqtt/dist/mqtt.esm.js DESTINATION ${OUT}/vendor)
file(COPY ${NODE_MODULES}/socket.io-client/dist/socket.io.min.js DESTINATION ${OUT}/vendor)
file(GLOB sio_dist ${NODE_MODULES}/socket.io-client/dist/socket.io*.js
	${NODE_MODULES}/socket.io-client/dist/socket.io*.js.map)
file(MAKE_DIRECTORY ${OUT}/vendor/socket.io)
file(COPY ${sio_dist} DESTINATION ${OUT}/vendor/socket.io)
file(COPY ${NODE_MODULES}/leaflet/dist/leaflet.js ${NODE_MODULES}/leaflet/dist/leaflet.css
	${NODE_MODULES}/leaflet/dist/images DESTINATION ${OUT}/vendor/leaflet)
file(COPY ${ROUTES} DESTINATION ${OUT}/data)
include(${SRC}/vendor-yjs.cmake)

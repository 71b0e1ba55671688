// Issue 10 through the FFI: the team directory arrives with sync and answers offline.
package org.gridwork.tests

import java.io.File
import org.gridwork.core.*

fun directoryNamesPlacesAndGridOffline() {
    Server().start().use { server -> GridworkStore.open(File(scratchDir("directory"), "l.db").path, "leader", Role.LEADER).use { leader ->
        assertEq(emptyList<Person>(), leader.directory(), "nothing before a sync")
        leader.signIn(server.url, "leader", PASSWORDS.getValue("leader"), "leader-phone")
        check(leader.sync().directoryUpdated > 0uL) { "the directory arrives with the first sync" }
        assertEq(0uL, leader.sync().directoryUpdated, "nothing when unchanged")
        server.stop()

        // Offline from here on.
        val people = leader.directory().associateBy { it.username }
        check("worker" in people) { "the community's worker is known: ${people.keys}" }
        check("worker2" !in people) { "another community's worker is not: ${people.keys}" }
        val worker = people.getValue("worker")
        assertEq("张伟 (worker)", leader.label(worker.id), "label")
        assertEq(worker, leader.person(worker.id), "person by id")
        assertEq(null, leader.person("never-seen"), "unknown id")
        assertEq("0531-8601-0001", people.getValue("supervisor").phone, "a shared phone")
        assertEq(listOf("worker", "leader"), leader.assignable("furong-01").map { it.username }, "assignable")
        assertEq(worker.id, leader.findPerson("张伟").id, "find by name")
        val e = assertThrows<GridworkException.InvalidInput>("someone out of scope") { leader.findPerson("李娜") }
        assertEq("to", e.field, "field")
        val grid = leader.units().first { it.id == "furong-01" }
        assertEq(UnitKind.GRID, grid.kind, "unit kind")
        check(grid.boundary != null) { "the grid has its boundary" }
        assertEq(GridAt.In("furong-01"), leader.gridAt(36.665, 117.020), "inside furong-01")
        assertEq(GridAt.Outside, leader.gridAt(36.665, 117.004), "outside")
    }
}}

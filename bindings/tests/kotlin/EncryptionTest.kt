// The store is encrypted at rest under a key the app keeps in the platform keystore.
package org.gridwork.tests

import java.io.File
import org.gridwork.core.*

private const val ID_NUMBER = "370102194105060027"

private fun fileHolds(file: File, needle: String): Boolean {
    if (!file.exists()) return false
    val hay = file.readBytes()
    val n = needle.toByteArray(Charsets.UTF_8)
    outer@ for (i in 0..hay.size - n.size) {
        for (j in n.indices) if (hay[i + j] != n[j]) continue@outer
        return true
    }
    return false
}

fun anEncryptedStoreKeepsItsSecretsAndRefusesAWrongKey() {
    val dir = scratchDir("encrypted")
    val path = File(dir, "w.db").path
    val key = newStoreKey()
    check(key.size == 32) { "a 32-byte key" }
    val hid = GridworkStore.open(path, "worker", Role.WORKER, listOf(GRID), key).use { store ->
        store.createHousehold(
            NewHousehold(
                grid = GRID, address = "芙蓉街20号", notes = "",
                members = listOf(Member(name = "孙桂兰", idNumber = ID_NUMBER, phone = "13912345678", birthYear = 1941, tags = listOf())),
            ),
        )
    }
    // Neither the database nor its WAL holds the ID number in the clear.
    for (f in dir.listFiles()!!) check(!fileHolds(f, ID_NUMBER)) { "${f.name} holds the ID number" }
    val before = File(path).readBytes().contentHashCode()
    assertThrows<GridworkException.WrongKey>("a wrong key") { GridworkStore.openDevice(path, newStoreKey()) }
    assertThrows<GridworkException.WrongKey>("no key") { GridworkStore.open(path, "worker", Role.WORKER) }
    assertEq(before, File(path).readBytes().contentHashCode(), "a wrong key changes nothing")
    // A new key: the old one stops working, the records stay.
    val next = newStoreKey()
    rekeyStore(path, key, next)
    assertThrows<GridworkException.WrongKey>("the old key") { GridworkStore.openDevice(path, key) }
    GridworkStore.open(path, "worker", Role.WORKER, listOf(GRID), next).use { store ->
        // Masked by default; in full only with a reason, which is logged.
        val masked = store.get(hid).record as AnyRecord.Household
        assertEq("370102********0027", masked.household.members[0].idNumber, "get masks the ID number")
        assertThrows<GridworkException.InvalidInput>("no reason") { store.getFull(hid, "") }
        val full = store.getFull(hid, "核实低保申请材料").record as AnyRecord.Household
        assertEq(ID_NUMBER, full.household.members[0].idNumber, "getFull shows it")
        assertEq("核实低保申请材料", store.accessLog().single().reason, "the access is logged")
    }
}

fun aPlainStoreIsEncryptedOnFirstOpenWithAKey() {
    val dir = scratchDir("plain-to-encrypted")
    val path = File(dir, "w.db").path
    val rid = GridworkStore.open(path, "worker", Role.WORKER, listOf(GRID)).use { it.createReport(newReport("楼道堆放杂物 plain")) }
    check(fileHolds(File(path), "plain") || fileHolds(File("$path-wal"), "plain")) { "the plain store holds its text" }
    val key = newStoreKey()
    GridworkStore.open(path, "worker", Role.WORKER, listOf(GRID), key).use { store ->
        assertEq(rid, store.get(rid).id, "the report survived the migration")
    }
    for (f in dir.listFiles()!!) check(!fileHolds(f, "楼道堆放杂物 plain")) { "${f.name} still holds the text" }
}

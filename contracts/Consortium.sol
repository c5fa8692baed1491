// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {IConsortium, Roles} from "./IConsortium.sol";

/// @title Consortium: the member cities, their agencies, and the rules they agreed on.
/// @notice Admitting or removing a city, changing a city's validator or admin, granting the
/// auditor role and changing a rule are proposals that pass with the votes of more than two
/// thirds of the member cities and expire when not passed before their deadline. The node reads
/// `getValidators()` at the parent block to know who validates the next one.
///
/// Membership is counted: each admission of a city starts a new membership. Votes and agencies
/// belong to the membership in which they were cast or registered, so a city removed and later
/// readmitted starts afresh: its earlier votes do not count again and its earlier agencies stay
/// inactive until its admin registers them again. A city does not vote on its own removal:
/// removal needs more than two thirds of the other members, so no city can veto it.
/// @dev The founding cities are registered by the deployer during a bootstrap phase that
/// `finishBootstrap()` ends for good; a genesis built by the node ends it before block 0.
contract Consortium is IConsortium {
    enum CityStatus {
        None,
        Active,
        Removed
    }

    enum ProposalKind {
        AdmitCity, // name, account = admin, validator, region
        RemoveCity, // cityId
        ChangeValidator, // cityId, validator
        ChangeAdmin, // cityId, account = new admin
        SetRule, // ruleKey, ruleValue
        SetAuditor // account = agency, ruleValue = 1 grants AUDITOR, 0 revokes it
    }

    enum ProposalStatus {
        None,
        Open,
        Executed,
        Expired
    }

    struct City {
        string name;
        address admin;
        address validator;
        bytes32 region;
        CityStatus status;
        uint64 admittedAt;
        uint32 membership; // how many times the city has been admitted; the current membership
    }

    struct Agency {
        bytes32 cityId;
        string name;
        uint8 roles;
        bool active;
        uint32 membership; // the city's membership it was registered in
    }

    struct Proposal {
        ProposalKind kind;
        bytes32 cityId;
        address account;
        address validator;
        bytes32 region;
        bytes32 ruleKey;
        uint256 ruleValue;
        string name;
        bytes32 proposerCity;
        uint64 createdAt;
        uint64 deadline;
        bool executed;
    }

    bytes32 public constant VOTING_PERIOD = "VOTING_PERIOD";
    uint256 public constant DEFAULT_VOTING_PERIOD = 7 days;

    address public immutable bootstrapper;
    bool public bootstrapping = true;

    mapping(bytes32 => City) private _cities;
    bytes32[] private _cityIds; // every city ever admitted, in admission order
    mapping(address => bytes32) private _adminOf;
    mapping(address => bytes32) private _validatorOf;
    mapping(address => Agency) private _agencies;
    mapping(bytes32 => address[]) private _agenciesOfCity;
    mapping(bytes32 => address) private _systemContracts;
    mapping(bytes32 => uint256) private _rules;
    uint256 private _memberCount;

    Proposal[] private _proposals; // proposal id = index + 1
    // The membership of the city when it voted (0: it has not voted).
    mapping(uint256 => mapping(bytes32 => uint32)) private _votedIn;

    event CityAdmitted(bytes32 indexed cityId, string name, address admin, address validator, bytes32 region);
    event CityRemoved(bytes32 indexed cityId);
    event ValidatorChanged(bytes32 indexed cityId, address previousValidator, address newValidator);
    event AdminChanged(bytes32 indexed cityId, address previousAdmin, address newAdmin);
    event AgencyRegistered(address indexed agency, bytes32 indexed cityId, string name, uint8 roles);
    event AgencyRolesChanged(address indexed agency, bytes32 indexed cityId, uint8 roles);
    event AgencyDeactivated(address indexed agency, bytes32 indexed cityId);
    event RuleChanged(bytes32 indexed key, uint256 previousValue, uint256 newValue);
    event SystemContractSet(bytes32 indexed name, address contractAddress);
    event BootstrapFinished(uint256 memberCount);
    event ProposalCreated(
        uint256 indexed proposalId, ProposalKind kind, bytes32 indexed cityId, bytes32 indexed proposerCity, uint64 deadline
    );
    event Voted(uint256 indexed proposalId, bytes32 indexed voterCity, uint256 votes, uint256 needed);
    event ProposalExecuted(uint256 indexed proposalId, ProposalKind kind, bytes32 indexed cityId);

    error NotBootstrapper(address caller);
    error BootstrapClosed();
    error BootstrapStillOpen();
    error NoFoundingCity();
    error NotCityAdmin(address caller);
    error NotAgencyOfCity(address agency, bytes32 cityId);
    error UnknownCity(bytes32 cityId);
    error CityNotActive(bytes32 cityId);
    error CityAlreadyMember(bytes32 cityId);
    error LastCity(bytes32 cityId);
    error EmptyName();
    error ZeroAddress();
    error AddressInUse(address account);
    error InvalidRoles(uint8 roles);
    error AuditorRoleNeedsVote(address agency);
    error UnknownAgency(address agency);
    error AgencyInactive(address agency);
    error UnknownProposal(uint256 proposalId);
    error ProposalNotOpen(uint256 proposalId, ProposalStatus status);
    error AlreadyVoted(uint256 proposalId, bytes32 cityId);
    error InvalidRuleValue(bytes32 key, uint256 value);
    error NotEnoughVotes(uint256 proposalId, uint256 votes, uint256 needed);
    error VoteOnOwnRemoval(uint256 proposalId, bytes32 cityId);

    modifier onlyBootstrap() {
        if (!bootstrapping) revert BootstrapClosed();
        if (msg.sender != bootstrapper) revert NotBootstrapper(msg.sender);
        _;
    }

    modifier afterBootstrap() {
        if (bootstrapping) revert BootstrapStillOpen();
        _;
    }

    constructor() {
        bootstrapper = msg.sender;
        _setRule(VOTING_PERIOD, DEFAULT_VOTING_PERIOD);
    }

    // ---------------------------------------------------------------- bootstrap

    function bootstrapCity(string calldata name, address admin, address validator, bytes32 region)
        external
        onlyBootstrap
        returns (bytes32 cityId)
    {
        return _admitCity(name, admin, validator, region);
    }

    /// Founding agencies may hold any role, AUDITOR included (later only by vote).
    function bootstrapAgency(address agency, bytes32 cityId, string calldata name, uint8 roles)
        external
        onlyBootstrap
    {
        _requireActiveCity(cityId);
        _registerAgency(agency, cityId, name, roles);
    }

    function bootstrapSystemContract(bytes32 name, address contractAddress) external onlyBootstrap {
        if (contractAddress == address(0)) revert ZeroAddress();
        _systemContracts[name] = contractAddress;
        emit SystemContractSet(name, contractAddress);
    }

    function finishBootstrap() external onlyBootstrap {
        if (_memberCount == 0) revert NoFoundingCity();
        bootstrapping = false;
        emit BootstrapFinished(_memberCount);
    }

    // ---------------------------------------------------------------- agencies (city admins)

    /// A city admin registers an agency of its own city, or registers again an agency of an
    /// earlier membership of the city. AUDITOR is granted only by vote.
    function registerAgency(address agency, string calldata name, uint8 roles) external afterBootstrap {
        bytes32 cityId = _callerCity();
        if (roles & Roles.AUDITOR != 0) revert AuditorRoleNeedsVote(agency);
        _registerAgency(agency, cityId, name, roles);
    }

    /// A city admin changes the roles of one of its agencies; the AUDITOR bit is kept as voted.
    function setAgencyRoles(address agency, uint8 roles) external afterBootstrap {
        bytes32 cityId = _callerCity();
        Agency storage a = _ownAgency(agency, cityId);
        if (roles & Roles.AUDITOR != 0) revert AuditorRoleNeedsVote(agency);
        if (roles == 0 || roles & ~Roles.ALL != 0) revert InvalidRoles(roles);
        a.roles = roles | (a.roles & Roles.AUDITOR);
        emit AgencyRolesChanged(agency, cityId, a.roles);
    }

    function deactivateAgency(address agency) external afterBootstrap {
        bytes32 cityId = _callerCity();
        Agency storage a = _ownAgency(agency, cityId);
        a.active = false;
        emit AgencyDeactivated(agency, cityId);
    }

    // ---------------------------------------------------------------- governance

    function proposeAdmitCity(string calldata name, address admin, address validator, bytes32 region)
        external
        afterBootstrap
        returns (uint256)
    {
        bytes32 cityId = _cityId(name);
        if (_cities[cityId].status == CityStatus.Active) revert CityAlreadyMember(cityId);
        _checkNewCityAccounts(name, admin, validator);
        Proposal storage p = _newProposal(ProposalKind.AdmitCity, cityId);
        p.name = name;
        p.account = admin;
        p.validator = validator;
        p.region = region;
        return _afterPropose();
    }

    function proposeRemoveCity(bytes32 cityId) external afterBootstrap returns (uint256) {
        _requireActiveCity(cityId);
        if (_memberCount == 1) revert LastCity(cityId);
        _newProposal(ProposalKind.RemoveCity, cityId);
        return _afterPropose();
    }

    function proposeChangeValidator(bytes32 cityId, address validator) external afterBootstrap returns (uint256) {
        _requireActiveCity(cityId);
        _checkUnusedValidator(validator);
        Proposal storage p = _newProposal(ProposalKind.ChangeValidator, cityId);
        p.validator = validator;
        return _afterPropose();
    }

    function proposeChangeAdmin(bytes32 cityId, address admin) external afterBootstrap returns (uint256) {
        _requireActiveCity(cityId);
        _checkUnusedAccount(admin);
        Proposal storage p = _newProposal(ProposalKind.ChangeAdmin, cityId);
        p.account = admin;
        return _afterPropose();
    }

    function proposeSetRule(bytes32 key, uint256 value) external afterBootstrap returns (uint256) {
        _checkRule(key, value);
        Proposal storage p = _newProposal(ProposalKind.SetRule, bytes32(0));
        p.ruleKey = key;
        p.ruleValue = value;
        return _afterPropose();
    }

    function proposeSetAuditor(address agency, bool isAuditor) external afterBootstrap returns (uint256) {
        Agency storage a = _agencies[agency];
        if (a.cityId == bytes32(0)) revert UnknownAgency(agency);
        Proposal storage p = _newProposal(ProposalKind.SetAuditor, a.cityId);
        p.account = agency;
        p.ruleValue = isAuditor ? 1 : 0;
        return _afterPropose();
    }

    /// A member city's admin votes for an open proposal; it executes as soon as more than two
    /// thirds of the current member cities have voted for it.
    function vote(uint256 proposalId) external afterBootstrap {
        bytes32 voterCity = _callerCity();
        _vote(proposalId, voterCity);
    }

    /// Executes an open proposal whose votes already suffice: membership can shrink after the
    /// votes were cast (a city that had not voted is removed), leaving nobody to cast the last one.
    function execute(uint256 proposalId) external afterBootstrap {
        _callerCity();
        Proposal storage p = _proposal(proposalId);
        ProposalStatus status = _status(p);
        if (status != ProposalStatus.Open) revert ProposalNotOpen(proposalId, status);
        uint256 votes = _tally(proposalId);
        uint256 needed = _votesNeeded(p);
        if (votes < needed) revert NotEnoughVotes(proposalId, votes, needed);
        _execute(proposalId, p);
    }

    // ---------------------------------------------------------------- views

    function isActiveCity(bytes32 cityId) public view returns (bool) {
        return _cities[cityId].status == CityStatus.Active;
    }

    function cityAdmin(bytes32 cityId) external view returns (address) {
        return _cities[cityId].admin;
    }

    function adminCity(address account) public view returns (bytes32) {
        bytes32 cityId = _adminOf[account];
        return isActiveCity(cityId) ? cityId : bytes32(0);
    }

    function cityOfAgency(address agency) public view returns (bytes32) {
        Agency storage a = _agencies[agency];
        City storage c = _cities[a.cityId];
        return a.active && c.status == CityStatus.Active && a.membership == c.membership ? a.cityId : bytes32(0);
    }

    function hasRole(address agency, uint8 role) external view returns (bool) {
        return role != 0 && cityOfAgency(agency) != bytes32(0) && _agencies[agency].roles & role == role;
    }

    function memberCount() external view returns (uint256) {
        return _memberCount;
    }

    function memberCities() external view returns (bytes32[] memory ids) {
        ids = new bytes32[](_memberCount);
        uint256 n;
        for (uint256 i; i < _cityIds.length; ++i) {
            if (_cities[_cityIds[i]].status == CityStatus.Active) ids[n++] = _cityIds[i];
        }
    }

    /// Every city ever admitted, removed ones included, for history.
    function allCities() external view returns (bytes32[] memory) {
        return _cityIds;
    }

    function getCity(bytes32 cityId) external view returns (City memory) {
        if (_cities[cityId].status == CityStatus.None) revert UnknownCity(cityId);
        return _cities[cityId];
    }

    function getAgency(address agency) external view returns (Agency memory) {
        if (_agencies[agency].cityId == bytes32(0)) revert UnknownAgency(agency);
        return _agencies[agency];
    }

    function agenciesOf(bytes32 cityId) external view returns (address[] memory) {
        return _agenciesOfCity[cityId];
    }

    function systemContract(bytes32 name) external view returns (address) {
        return _systemContracts[name];
    }

    function rule(bytes32 key) external view returns (uint256) {
        return _rules[key];
    }

    function isPermittedSender(address account) external view returns (bool) {
        if (bootstrapping && account == bootstrapper) return true;
        return adminCity(account) != bytes32(0) || cityOfAgency(account) != bytes32(0);
    }

    function getValidators() external view returns (address[] memory validators) {
        validators = new address[](_memberCount);
        uint256 n;
        for (uint256 i; i < _cityIds.length; ++i) {
            City storage c = _cities[_cityIds[i]];
            if (c.status == CityStatus.Active) validators[n++] = c.validator;
        }
    }

    function proposalCount() external view returns (uint256) {
        return _proposals.length;
    }

    function getProposal(uint256 proposalId)
        external
        view
        returns (Proposal memory proposal, ProposalStatus status, uint256 votes, uint256 needed)
    {
        proposal = _proposal(proposalId);
        status = _status(proposal);
        votes = _tally(proposalId);
        needed = _votesNeeded(proposal);
    }

    /// True if the city voted for the proposal during its current membership.
    function hasVoted(uint256 proposalId, bytes32 cityId) external view returns (bool) {
        return _votedIn[proposalId][cityId] == _cities[cityId].membership && _votedIn[proposalId][cityId] != 0;
    }

    /// Smallest number of votes that is more than two thirds of the member cities.
    function votesNeeded() public view returns (uint256) {
        return (_memberCount * 2) / 3 + 1;
    }

    // ---------------------------------------------------------------- internals

    function _cityId(string memory name) private pure returns (bytes32) {
        return keccak256(bytes(name));
    }

    function _callerCity() private view returns (bytes32 cityId) {
        cityId = adminCity(msg.sender);
        if (cityId == bytes32(0)) revert NotCityAdmin(msg.sender);
    }

    function _requireActiveCity(bytes32 cityId) private view {
        CityStatus status = _cities[cityId].status;
        if (status == CityStatus.None) revert UnknownCity(cityId);
        if (status != CityStatus.Active) revert CityNotActive(cityId);
    }

    function _ownAgency(address agency, bytes32 cityId) private view returns (Agency storage a) {
        a = _agencies[agency];
        if (a.cityId != cityId) revert NotAgencyOfCity(agency, cityId);
        if (!a.active) revert AgencyInactive(agency);
    }

    /// An address plays one part only: a city admin, a validator or an agency.
    function _checkUnusedAccount(address account) private view {
        if (account == address(0)) revert ZeroAddress();
        if (
            _adminOf[account] != bytes32(0) || _validatorOf[account] != bytes32(0)
                || _agencies[account].cityId != bytes32(0)
        ) revert AddressInUse(account);
    }

    function _checkUnusedValidator(address validator) private view {
        if (validator == address(0)) revert ZeroAddress();
        if (
            _validatorOf[validator] != bytes32(0) || _adminOf[validator] != bytes32(0)
                || _agencies[validator].cityId != bytes32(0)
        ) revert AddressInUse(validator);
    }

    function _checkNewCityAccounts(string memory name, address admin, address validator) private view {
        if (bytes(name).length == 0) revert EmptyName();
        if (admin == validator) revert AddressInUse(admin);
        _checkUnusedAccount(admin);
        _checkUnusedValidator(validator);
    }

    function _checkRule(bytes32 key, uint256 value) private pure {
        if (key == VOTING_PERIOD && (value < 1 hours || value > 365 days)) revert InvalidRuleValue(key, value);
    }

    function _admitCity(string memory name, address admin, address validator, bytes32 region)
        private
        returns (bytes32 cityId)
    {
        cityId = _cityId(name);
        City storage c = _cities[cityId];
        if (c.status == CityStatus.Active) revert CityAlreadyMember(cityId);
        _checkNewCityAccounts(name, admin, validator);
        if (c.status == CityStatus.None) _cityIds.push(cityId);
        // A readmitted city keeps its id; its old accounts were released on removal, and its
        // agencies of the earlier membership stay inactive until registered again.
        c.name = name;
        c.admin = admin;
        c.validator = validator;
        c.region = region;
        c.status = CityStatus.Active;
        c.admittedAt = uint64(block.timestamp);
        c.membership += 1;
        _adminOf[admin] = cityId;
        _validatorOf[validator] = cityId;
        ++_memberCount;
        emit CityAdmitted(cityId, name, admin, validator, region);
    }

    function _registerAgency(address agency, bytes32 cityId, string calldata name, uint8 roles) private {
        if (bytes(name).length == 0) revert EmptyName();
        if (roles == 0 || roles & ~Roles.ALL != 0) revert InvalidRoles(roles);
        uint32 membership = _cities[cityId].membership;
        Agency storage earlier = _agencies[agency];
        bool again = earlier.cityId == cityId && earlier.membership < membership;
        if (!again) {
            _checkUnusedAccount(agency);
            _agenciesOfCity[cityId].push(agency);
        }
        _agencies[agency] = Agency({cityId: cityId, name: name, roles: roles, active: true, membership: membership});
        emit AgencyRegistered(agency, cityId, name, roles);
    }

    function _setRule(bytes32 key, uint256 value) private {
        emit RuleChanged(key, _rules[key], value);
        _rules[key] = value;
    }

    function _newProposal(ProposalKind kind, bytes32 cityId) private returns (Proposal storage p) {
        bytes32 proposerCity = _callerCity();
        p = _proposals.push();
        p.kind = kind;
        p.cityId = cityId;
        p.proposerCity = proposerCity;
        p.createdAt = uint64(block.timestamp);
        p.deadline = uint64(block.timestamp + _rules[VOTING_PERIOD]);
        emit ProposalCreated(_proposals.length, kind, cityId, proposerCity, p.deadline);
    }

    /// The proposer's city votes for its own proposal (unless it proposes its own removal).
    function _afterPropose() private returns (uint256 proposalId) {
        proposalId = _proposals.length;
        Proposal storage p = _proposals[proposalId - 1];
        if (p.kind == ProposalKind.RemoveCity && p.cityId == p.proposerCity) return proposalId;
        _vote(proposalId, p.proposerCity);
    }

    function _proposal(uint256 proposalId) private view returns (Proposal storage) {
        if (proposalId == 0 || proposalId > _proposals.length) revert UnknownProposal(proposalId);
        return _proposals[proposalId - 1];
    }

    function _status(Proposal memory p) private view returns (ProposalStatus) {
        if (p.executed) return ProposalStatus.Executed;
        if (block.timestamp > p.deadline) return ProposalStatus.Expired;
        return ProposalStatus.Open;
    }

    /// Votes cast by member cities in their current membership: a removed city's vote stops
    /// counting, and does not count again if the city is readmitted.
    function _tally(uint256 proposalId) private view returns (uint256 votes) {
        for (uint256 i; i < _cityIds.length; ++i) {
            City storage c = _cities[_cityIds[i]];
            if (c.status == CityStatus.Active && _votedIn[proposalId][_cityIds[i]] == c.membership) ++votes;
        }
    }

    /// More than two thirds of the members who vote on it: for a removal, the other members.
    function _votesNeeded(Proposal memory p) private view returns (uint256) {
        if (p.kind == ProposalKind.RemoveCity && isActiveCity(p.cityId)) return ((_memberCount - 1) * 2) / 3 + 1;
        return votesNeeded();
    }

    function _vote(uint256 proposalId, bytes32 voterCity) private {
        Proposal storage p = _proposal(proposalId);
        ProposalStatus status = _status(p);
        if (status != ProposalStatus.Open) revert ProposalNotOpen(proposalId, status);
        if (p.kind == ProposalKind.RemoveCity && p.cityId == voterCity) revert VoteOnOwnRemoval(proposalId, voterCity);
        uint32 membership = _cities[voterCity].membership;
        if (_votedIn[proposalId][voterCity] == membership) revert AlreadyVoted(proposalId, voterCity);
        _votedIn[proposalId][voterCity] = membership;
        uint256 votes = _tally(proposalId);
        uint256 needed = _votesNeeded(p);
        emit Voted(proposalId, voterCity, votes, needed);
        if (votes >= needed) _execute(proposalId, p);
    }

    function _execute(uint256 proposalId, Proposal storage p) private {
        p.executed = true;
        bytes32 cityId = p.cityId;
        ProposalKind kind = p.kind;
        // Membership may have changed since the proposal was made.
        if (kind == ProposalKind.RemoveCity || kind == ProposalKind.ChangeValidator || kind == ProposalKind.ChangeAdmin) {
            _requireActiveCity(cityId);
        }
        if (kind == ProposalKind.RemoveCity && _memberCount == 1) revert LastCity(cityId);
        if (kind == ProposalKind.AdmitCity) {
            _admitCity(p.name, p.account, p.validator, p.region);
        } else if (kind == ProposalKind.RemoveCity) {
            City storage c = _cities[cityId];
            c.status = CityStatus.Removed;
            delete _adminOf[c.admin];
            delete _validatorOf[c.validator];
            --_memberCount;
            emit CityRemoved(cityId);
        } else if (kind == ProposalKind.ChangeValidator) {
            City storage c = _cities[cityId];
            _checkUnusedValidator(p.validator);
            delete _validatorOf[c.validator];
            _validatorOf[p.validator] = cityId;
            emit ValidatorChanged(cityId, c.validator, p.validator);
            c.validator = p.validator;
        } else if (kind == ProposalKind.ChangeAdmin) {
            City storage c = _cities[cityId];
            _checkUnusedAccount(p.account);
            delete _adminOf[c.admin];
            _adminOf[p.account] = cityId;
            emit AdminChanged(cityId, c.admin, p.account);
            c.admin = p.account;
        } else if (kind == ProposalKind.SetRule) {
            _setRule(p.ruleKey, p.ruleValue);
        } else {
            Agency storage a = _agencies[p.account];
            a.roles = p.ruleValue == 1 ? a.roles | Roles.AUDITOR : a.roles & ~Roles.AUDITOR;
            emit AgencyRolesChanged(p.account, a.cityId, a.roles);
        }
        emit ProposalExecuted(proposalId, kind, cityId);
    }
}
